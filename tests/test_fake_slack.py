"""The fake Slack refuses what Slack refuses: the limits of Block Kit the Slack tests rely on,
each side of each limit, through the real slack_sdk client."""

from __future__ import annotations

import pytest
from fake_slack import (MAX_ACTIONS_ELEMENTS, MAX_BLOCKS, MAX_BUTTON_TEXT, MAX_BUTTON_VALUE,
                        MAX_CONTEXT_ELEMENTS, MAX_MESSAGE_TEXT, MAX_TEXT_OBJECT, FakeSlack,
                        message_refusal)
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

CHANNEL = "C0GENERAL1"


def section(text):
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(label="👍", value="1"):
    return {"type": "button", "action_id": "babeldesk_up", "value": value,
            "text": {"type": "plain_text", "text": label, "emoji": True}}


def error(blocks=None, text="x"):
    refusal = message_refusal({"channel": CHANNEL, "text": text, "blocks": blocks})
    return refusal and refusal["error"]


def test_each_limit_of_block_kit():
    assert error([section("x" * MAX_TEXT_OBJECT)]) is None
    assert error([section("x" * (MAX_TEXT_OBJECT + 1))]) == "invalid_blocks"
    assert error([section("")]) == "invalid_blocks"
    assert error([section("x")] * MAX_BLOCKS) is None
    assert error([section("x")] * (MAX_BLOCKS + 1)) == "invalid_blocks"
    note = {"type": "mrkdwn", "text": "a"}
    assert error([{"type": "context", "elements": [note] * MAX_CONTEXT_ELEMENTS}]) is None
    assert error([{"type": "context", "elements": [note] * (MAX_CONTEXT_ELEMENTS + 1)}]) \
        == "invalid_blocks"
    assert error([{"type": "context", "elements": [
        {"type": "mrkdwn", "text": "a" * (MAX_TEXT_OBJECT + 1)}]}]) == "invalid_blocks"
    assert error([{"type": "actions", "elements": [button()] * MAX_ACTIONS_ELEMENTS}]) is None
    assert error([{"type": "actions", "elements": [button()] * (MAX_ACTIONS_ELEMENTS + 1)}]) \
        == "invalid_blocks"
    assert error([{"type": "actions", "elements": [
        button("x" * MAX_BUTTON_TEXT, "1" * MAX_BUTTON_VALUE)]}]) is None
    assert error([{"type": "actions", "elements": [button("x" * (MAX_BUTTON_TEXT + 1))]}]) \
        == "invalid_blocks"
    assert error([{"type": "actions", "elements": [
        button(value="1" * (MAX_BUTTON_VALUE + 1))]}]) == "invalid_blocks"
    assert error(text="x" * MAX_MESSAGE_TEXT) is None
    assert error(text="x" * (MAX_MESSAGE_TEXT + 1)) == "msg_too_long"
    assert error(text="") == "no_text"


@pytest.mark.parametrize("method", ["chat_postMessage", "chat_update", "chat_postEphemeral"])
async def test_a_refused_message_fails_the_test_that_sent_it(method):
    fake = await FakeSlack().start()
    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
    where = {"channel": CHANNEL, "ts": "1700000001.000100"} if method == "chat_update" else \
        {"channel": CHANNEL, "user": "U0CUSTOMER"} if method == "chat_postEphemeral" else \
        {"channel": CHANNEL}
    with pytest.raises(SlackApiError) as refused:
        await getattr(client, method)(text="too long", blocks=[section("x" * 3001)], **where)
    assert refused.value.response["error"] == "invalid_blocks"
    with pytest.raises(AssertionError, match=r"invalid_blocks.*json-pointer:/blocks/0/text"):
        await fake.stop()


async def test_an_expected_refusal_does_not_fail_the_test():
    fake = await FakeSlack().start()
    fake.expect_refused_blocks = True
    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
    with pytest.raises(SlackApiError, match="msg_too_long"):
        await client.chat_postMessage(channel=CHANNEL, text="x" * (MAX_MESSAGE_TEXT + 1))
    await fake.stop()
