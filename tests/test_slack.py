"""The Slack adapter: real slack-bolt and slack_sdk against a fake Slack on 127.0.0.1.

The stand-in engine of engines.py answers in most tests, so that they test the adapter and not
the model's speed; one test has the real model answer a mention end to end."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import aiohttp
import pytest
from fake_slack import (BOT_USER, FakeSlack, app_mention, block_action, bot_message,
                        assistant_message, assistant_thread_started, envelope,
                        ephemeral_action, im_message, message_changed, message_event,
                        slash_command)
from slack_sdk.signature import SignatureVerifier

from adapters import settings
from adapters.slack import PLACEHOLDER, SlackAdapter
from bot.core import open_core
from bot.errors import AdapterError
from bot.history import ConversationKey
from bot.texts import TEXTS

SUPPORT = "C0HELPDESK"
STAFF = "S0SUPPORT"
MENTION = f"<!subteam^{STAFF}>"
AGENT = "U0AGENT001"
#: deadlines, not expectations: a loaded machine is slow, and an idle one passes at once
WAIT = 120
MODEL_WAIT = 600


@pytest.fixture
async def fake():
    server = await FakeSlack().start()
    server.usergroups[STAFF] = [AGENT]
    yield server
    await server.stop()


def open_slack_core(write_config, engine, **model):
    config = write_config(model=model, adapters={"slack": {
        "support_channels": [SUPPORT], "handoff_mention": MENTION, "staff_group": STAFF}})
    return open_core(config, engine=engine, watch=False)


@pytest.fixture
def slack_core(write_config, scripted):
    core = open_slack_core(write_config, scripted, max_tokens=400)
    yield core
    core.close()


def slack_config(core, fake, **changes):
    return dataclasses.replace(settings(core.config, SlackAdapter), api_url=fake.api_url, **changes)


async def socket_adapter(core, fake, **changes):
    adapter = SlackAdapter(core.pipeline, slack_config(core, fake, **changes), "xoxb-test",
                           app_token="xapp-test")
    await adapter.start()
    await fake.wait_for_socket(timeout=WAIT)
    return adapter


@pytest.fixture
async def adapter(fake, slack_core):
    adapter = await socket_adapter(slack_core, fake)
    yield adapter
    await adapter.stop()


def final_updates(fake):
    return [c for c in fake.calls_to("chat.update") if c.params.get("blocks")]


def actions_of(call):
    return next((b for b in call.params["blocks"] if b["type"] == "actions"), None)


async def idle(fake, adapter):
    """Wait until the adapter has no event handler running."""
    await fake.wait_for(lambda: not adapter.handlers.tasks, timeout=WAIT)


async def settle(fake, adapter, envelope_ids):
    """Wait until every envelope was acknowledged and the adapter's handlers finished: all
    that these events make the bot post has been posted by then. (Bolt starts an event's
    handler before it acknowledges the event, and the handler is tracked from its first
    step.)"""
    await fake.wait_for(lambda: all(e in fake.ack_times for e in envelope_ids), timeout=WAIT)
    await idle(fake, adapter)


def check_answer_message(fake, channel, thread_ts):
    """One placeholder in the thread, edited at most once a second, the last time with the
    whole answer, its sources and buttons; returns the edits and the buttons."""
    posts = fake.calls_to("chat.postMessage")
    assert len(posts) == 1, [p.params for p in posts]
    placeholder = posts[0]
    assert placeholder.params["channel"] == channel
    assert placeholder.params["thread_ts"] == thread_ts
    assert placeholder.params["text"] == PLACEHOLDER
    updates = fake.calls_to("chat.update")
    assert all(u.params["ts"] == placeholder.result["ts"] for u in updates)
    assert all(u.params["channel"] == channel for u in updates)
    times = [placeholder.at] + [u.at for u in updates]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.95, gaps  # at most one edit per second
    final = updates[-1]
    assert final is final_updates(fake)[-1]
    assert final.params["text"] and PLACEHOLDER not in final.params["text"][-2:]
    context = next(b for b in final.params["blocks"] if b["type"] == "context")
    assert "en/" in context["elements"][0]["text"]
    buttons = {e["action_id"]: e["value"] for e in actions_of(final)["elements"]}
    assert set(buttons) == {"babeldesk_up", "babeldesk_down", "babeldesk_handoff"}
    return updates, buttons


@pytest.mark.model
async def test_the_model_answers_a_mention_in_its_thread(fake, write_config, engine):
    core = open_slack_core(write_config, engine, max_tokens=48)
    adapter = await socket_adapter(core, fake)
    try:
        event = app_mention("How do I descale my kettle?", channel="C0GENERAL1",
                            ts="1700001000.000100")
        body = envelope(event)
        await fake.push(body)
        await fake.wait_for(lambda: final_updates(fake), timeout=MODEL_WAIT)
        _, buttons = check_answer_message(fake, "C0GENERAL1", event["ts"])
        turn = core.history.turn(int(buttons["babeldesk_up"]))
        assert turn.role == "assistant" and turn.text.strip()
        assert core.pipeline.detector.detect_document(turn.text) == "en", turn.text
        assert core.history.count(adapter.message_for(event, body).key) == 2
    finally:
        await adapter.stop()
        core.close()


async def test_a_mention_streams_an_answer_into_its_thread_once(fake, adapter, slack_core,
                                                              scripted):
    # The answer goes on slowly until the first streamed edit reached Slack, then ends.
    scripted.hold(lambda: fake.calls_to("chat.update"), pace=0.2)
    event = app_mention("How do I descale my kettle? Please explain every step.",
                        channel="C0GENERAL1",
                        ts="1700001000.000100")
    body = envelope(event, event_id="Ev0MENTION1")
    first = await fake.push(body)
    # The same message also arrives as a plain message event, and Slack retries the mention.
    plain = await fake.push(envelope(message_event(event["text"], channel="C0GENERAL1",
                                                   ts=event["ts"])))
    retry = await fake.push(body, retry=1)
    await fake.wait_for(lambda: final_updates(fake), timeout=WAIT)
    await settle(fake, adapter, [first, plain, retry])

    assert scripted.released == [True] and len(scripted.calls) == 1
    updates, buttons = check_answer_message(fake, "C0GENERAL1", event["ts"])
    # Acknowledged before the answer was written (it waited for the first edit).
    assert fake.ack_times[first] < updates[0].at
    assert len(updates) >= 2, "expected streaming edits before the final answer"
    streamed = updates[0].params["text"]
    assert streamed.endswith(f" {PLACEHOLDER}") and "blocks" not in updates[0].params
    assert updates[-1].params["text"].startswith(streamed.removesuffix(f" {PLACEHOLDER}"))
    turn = slack_core.history.turn(int(buttons["babeldesk_up"]))
    assert turn.role == "assistant" and turn.text.strip()
    assert slack_core.history.count(
        adapter.message_for(event, body).key) == 2


#: an answer whose first sentence is the article's and whose second makes a number up
CHECKED = ("Fill the kettle with a mix of half water and half white vinegar, and boil it. "
           "Then leave the mixture in the kettle for 45 minutes.")


async def test_an_answer_failing_the_check_is_replaced_by_the_articles_words(fake, adapter,
                                                                             scripted):
    scripted.answer = CHECKED
    # The answer goes on slowly until its checked first sentence reached Slack.
    scripted.hold(lambda: fake.calls_to("chat.update"), pace=0.2)
    event = app_mention("How do I descale my kettle?", channel="C0GENERAL1",
                        ts="1700001000.000200")
    await fake.push(envelope(event, event_id="Ev0CHECKED1"))
    await fake.wait_for(lambda: final_updates(fake), timeout=WAIT)
    updates = fake.calls_to("chat.update")
    # The checked sentence was shown while the answer was written; the sentence with the
    # made-up number never was. The message then became the article's own steps.
    assert "half white vinegar" in updates[0].params["text"]
    assert not any("45" in u.params.get("text", "") for u in fake.calls_to("chat."))
    final = final_updates(fake)[-1].params["text"]
    assert final.startswith(TEXTS["en"]["quote_intro"] + "\n\n> ")
    assert "30 minutes" in final


async def test_bots_edits_own_messages_and_unaddressed_chatter_get_no_answer(fake, adapter,
                                                                            scripted):
    noise = [
        bot_message("I am another bot. How do I reset my password?"),
        message_changed("How do I reset my password?"),
        message_event("How do I reset my password?", user=BOT_USER, ts="1700006000.000100"),
        message_event("How do I reset my password?", channel="C0RANDOM01",
                      ts="1700007000.000100"),
        message_event("How do I reset my password?", channel="C0RANDOM01",
                      ts="1700007100.000100", thread_ts="1700007000.000100"),
        {**message_event("joined", ts="1700008000.000100"), "subtype": "channel_join"},
        {**message_event("set the topic", ts="1700009000.000100"), "subtype": "channel_topic"},
        {"type": "message", "subtype": "message_deleted", "hidden": True,
         "channel": SUPPORT, "ts": "1700009100.000100", "deleted_ts": "1700002000.000100",
         "event_ts": "1700009100.000100", "channel_type": "channel",
         "previous_message": {"type": "message", "user": "U0CUSTOMER", "text": "hi",
                              "ts": "1700002000.000100"}},
    ]
    ids = [await fake.push(envelope(event)) for event in noise]
    await settle(fake, adapter, ids)
    assert fake.calls_to("chat.postMessage") == []
    assert fake.calls_to("chat.update") == []
    assert scripted.calls == []


async def test_support_channel_follow_ups_and_an_api_error(fake, adapter, slack_core,
                                                          scripted):
    fake.failing_channels.add("C0GONE0001")
    broken = await fake.push(envelope(app_mention("How do I get a refund?",
                                                  channel="C0GONE0001")))
    await settle(fake, adapter, [broken])
    assert [p.result["error"] for p in fake.calls_to("chat.postMessage")] == \
        ["channel_not_found"]

    top = message_event("How long does delivery take?", channel=SUPPORT,
                        ts="1700010000.000100")
    await fake.push(envelope(top))
    await fake.wait_for(lambda: len(final_updates(fake)) == 1, timeout=WAIT)
    follow_up = message_event("And how much does express delivery cost?", channel=SUPPORT,
                              ts="1700010050.000100", thread_ts=top["ts"])
    await fake.push(envelope(follow_up))
    await fake.wait_for(lambda: len(final_updates(fake)) == 2, timeout=WAIT)
    posts = [p for p in fake.calls_to("chat.postMessage")
             if p.params["channel"] == SUPPORT]
    assert [p.params["thread_ts"] for p in posts] == [top["ts"], top["ts"]]
    key = adapter.message_for(follow_up, envelope(follow_up)).key
    assert slack_core.history.count(key) == 4  # one conversation: the thread
    # The follow-up was written knowing the first exchange.
    assert [m["role"] for m in scripted.calls[-1][1]] == ["system", "user", "assistant", "user"]


async def test_a_direct_message_after_a_rate_limit(fake, adapter):
    fake.rate_limits["chat.postMessage"] = 1
    dm = im_message("¿Cuánto tarda el envío?")
    await fake.push(envelope(dm))
    await fake.wait_for(lambda: final_updates(fake), timeout=WAIT)
    posts = fake.calls_to("chat.postMessage")
    assert len(posts) == 2  # the 429, then the retry
    assert posts[1].at - posts[0].at >= 1.0  # Retry-After: 1 honoured
    assert posts[1].params["channel"] == "D0DIRECT01"
    assert "thread_ts" not in posts[1].params  # a DM is answered in the DM itself
    context = next(b for b in final_updates(fake)[-1].params["blocks"]
                   if b["type"] == "context")
    assert context["elements"][0]["text"].startswith("*Fuentes:*")


async def test_buttons_store_feedback_and_hand_off_until_released(fake, adapter, slack_core):
    question = app_mention("How do I get a refund?", ts="1700020000.000100")
    await fake.push(envelope(question))
    await fake.wait_for(lambda: final_updates(fake), timeout=WAIT)
    final = final_updates(fake)[-1]
    turn_id = actions_of(final)["elements"][0]["value"]
    answer_ts = final.params["ts"]

    await fake.push(block_action("babeldesk_down", turn_id, question["channel"], answer_ts,
                                 question["ts"]), kind="interactive")
    await fake.wait_for(lambda: slack_core.history.feedback(int(turn_id)) == {"U0CUSTOMER": -1},
                        timeout=WAIT)

    await fake.push(block_action("babeldesk_handoff", turn_id, question["channel"], answer_ts,
                                 question["ts"]), kind="interactive")
    await fake.wait_for(lambda: any(MENTION in p.params.get("text", "")
                                    for p in fake.calls_to("chat.postMessage")), timeout=WAIT)
    handoff = fake.calls_to("chat.postMessage")[-1]
    assert handoff.params["thread_ts"] == question["ts"]
    assert slack_core.pipeline.texts.get("handoff_done", "en") in handoff.params["text"]

    await idle(fake, adapter)
    calls = len(fake.calls)
    quiet = await fake.push(envelope(message_event(
        "Hello? How do I get a refund?", channel=question["channel"], ts="1700020100.000100",
        thread_ts=question["ts"])))
    again = await fake.push(envelope(app_mention(
        "How do I get a refund?", channel=question["channel"], ts="1700020200.000100",
        thread_ts=question["ts"])))
    await settle(fake, adapter, [quiet, again])
    assert len(fake.calls) == calls  # silent while people handle the thread

    release = actions_of(handoff)["elements"][0]
    assert release["value"] == adapter.message_for(question, envelope(question)).key.id
    await fake.push(block_action("babeldesk_release", release["value"], question["channel"],
                                 handoff.result["ts"], question["ts"], user=AGENT),
                    kind="interactive")
    released = slack_core.pipeline.texts.get("released", "en")
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage")[-1].params["text"]
                        == released, timeout=WAIT)
    await fake.push(envelope(message_event("And how long does the refund take?",
                                           channel=question["channel"], ts="1700020300.000100",
                                           thread_ts=question["ts"])))
    await fake.wait_for(lambda: len(final_updates(fake)) == 2, timeout=WAIT)


async def test_release_by_mention(fake, adapter, slack_core):
    from helpers import message

    thread = "1700030000.000100"
    person = message("x", platform="slack", workspace="T0KETTLE01", channel=SUPPORT,
                     thread=thread)
    await slack_core.pipeline.hand_off(person)
    # The customer cannot give the thread back to the bot; staff can, in any shipped language.
    customer = await fake.push(envelope(app_mention("release", channel=SUPPORT,
                                                    ts="1700030050.000100", thread_ts=thread)))
    await settle(fake, adapter, [customer])
    assert not fake.calls_to("chat.postMessage")
    assert slack_core.history.is_handed_off(person.key)
    await fake.push(envelope(app_mention(TEXTS["de"]["release_words"].split(",")[0],
                                         channel=SUPPORT, ts="1700030100.000100",
                                         thread_ts=thread, user=AGENT)))
    released = slack_core.pipeline.texts.get("released", "en")
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage"), timeout=WAIT)
    assert fake.calls_to("chat.postMessage")[0].params["text"] == released
    assert not slack_core.history.is_handed_off(person.key)


async def test_http_events_api(fake, slack_core, scripted):
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    config = slack_config(slack_core, fake, mode="http", http_host="127.0.0.1", http_port=0)
    adapter = SlackAdapter(slack_core.pipeline, config, "xoxb-test", signing_secret=secret)
    await adapter.start()
    url = f"http://127.0.0.1:{adapter.http_port}/slack/events"
    verifier = SignatureVerifier(secret)
    # The answer is held until the test has both acknowledgements.
    acknowledged = threading.Event()
    scripted.hold(acknowledged.is_set, after=0)

    async def post(payload, signed=True, retry=None):
        body = json.dumps(payload)
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
                   "X-Slack-Signature": verifier.generate_signature(timestamp=stamp, body=body)
                   if signed else "v0=" + "0" * 64}
        if retry:
            headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason":
                            "http_timeout"})
        timeout = aiohttp.ClientTimeout(total=WAIT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.post(url, data=body, headers=headers) as response:
                return response.status, await response.text()

    try:
        status, text = await post({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
                                   "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                                   "type": "url_verification"})
        assert status == 200
        assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in text

        event = envelope(app_mention("How do I reset my password?", ts="1700040000.000100"))
        status, _ = await post(event, signed=False)
        assert status == 401
        status, _ = await post(event)
        assert status == 200
        status, _ = await post(event, retry=1)
        assert status == 200
        # Both acknowledged while the answer was still being written.
        assert not final_updates(fake)
        acknowledged.set()
        await fake.wait_for(lambda: final_updates(fake), timeout=WAIT)
        await idle(fake, adapter)  # the retry's handler too
        assert len(fake.calls_to("chat.postMessage")) == 1
        assert scripted.released == [True] and len(scripted.calls) == 1
    finally:
        acknowledged.set()
        await adapter.stop()


async def test_missing_and_rejected_tokens_are_one_clear_line(fake, slack_core, monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    with pytest.raises(AdapterError, match="set SLACK_BOT_TOKEN and SLACK_APP_TOKEN"):
        SlackAdapter.from_config(slack_core.config, slack_core.pipeline)

    fake.rejected_tokens.add("xoxb-revoked")
    adapter = SlackAdapter(slack_core.pipeline, slack_config(slack_core, fake), "xoxb-revoked",
                           app_token="xapp-test")
    with pytest.raises(AdapterError, match="rejected the bot token in SLACK_BOT_TOKEN: "
                                           "invalid_auth"):
        await adapter.start()

    fake.rejected_tokens.add("xapp-revoked")
    adapter = SlackAdapter(slack_core.pipeline, slack_config(slack_core, fake), "xoxb-test",
                           app_token="xapp-revoked")
    with pytest.raises(AdapterError, match="rejected the app-level token in SLACK_APP_TOKEN"):
        await adapter.start()
    await adapter.stop()


def test_the_manifest_lets_customers_write_to_the_bot_and_grants_what_it_calls():
    import yaml
    from helpers import ROOT

    manifest = yaml.safe_load((ROOT / "docs" / "slack-app-manifest.yaml").read_text())
    home = manifest["features"]["app_home"]
    # Without these, Slack shows "Sending messages to this app has been turned off".
    assert home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is False
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # the Web API methods babeldesk calls, and the scope each needs
    assert {"chat:write", "users:read", "usergroups:read", "im:history",
            "app_mentions:read"} <= scopes
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"message.im", "app_mention", "assistant_thread_started"} <= set(events)
    assert {"commands", "assistant:write"} <= scopes
    from adapters.slack import SlackConfig

    assert [c["command"] for c in manifest["features"]["slash_commands"]] == [
        SlackConfig().command]
    assert manifest["features"]["assistant_view"]["assistant_description"]


LONG = "Fill the kettle with a mix of half water and half white vinegar, and boil it. " * 40


async def wait_idle(fake, adapter, core):
    await fake.wait_for(lambda: core.pipeline.in_progress == 0 and not adapter.handlers.tasks,
                        timeout=WAIT)


async def test_a_refused_edit_stops_the_answer_and_stores_nothing(fake, adapter, slack_core,
                                                                scripted):
    # A slow answer of ~700 pieces, each sentence the article's: minutes, unless stopped.
    scripted.answer = LONG
    scripted.hold(lambda: False, after=1, pace=0.3)
    event = app_mention("How do I descale my kettle?", channel="C0GENERAL1",
                        ts="1700001000.000300")
    # The placeholder is posted; then the channel is archived under it.
    fake.failing_methods["chat.update"] = "is_archived"
    await fake.push(envelope(event))
    await fake.wait_for(lambda: fake.calls_to("chat.update"), timeout=WAIT)
    await wait_idle(fake, adapter, slack_core)
    assert len(fake.calls_to("chat.update")) == 1  # nothing more was tried there
    assert slack_core.history.db.execute("SELECT count(*) FROM turns").fetchone() == (0,)
    generated = slack_core.pipeline.metrics.registry.get_sample_value(
        "babeldesk_generated_tokens_total")
    assert generated < 300, generated


async def answered(fake, question):
    await fake.push(envelope(question))
    await fake.wait_for(lambda: final_updates(fake), timeout=WAIT)
    final = final_updates(fake)[-1]
    return actions_of(final)["elements"][-1]["value"], final.params["ts"]


async def test_only_the_asker_calls_a_person_and_only_staff_release(fake, adapter, slack_core):
    question = app_mention("How do I get a refund?", ts="1700050000.000100")
    turn_id, answer_ts = await answered(fake, question)
    key = adapter.message_for(question, envelope(question)).key

    # Someone else in the channel clicks "talk to a human" under the customer's answer.
    await fake.push(block_action("babeldesk_handoff", turn_id, question["channel"], answer_ts,
                                 question["ts"], user="U0BYSTANDER"), kind="interactive")
    await fake.wait_for(lambda: fake.calls_to("chat.postEphemeral"), timeout=WAIT)
    told = fake.calls_to("chat.postEphemeral")[0].params
    assert told["user"] == "U0BYSTANDER" and told["text"] == TEXTS["en"]["only_asker"]
    assert not slack_core.history.is_handed_off(key)

    await fake.push(block_action("babeldesk_handoff", turn_id, question["channel"], answer_ts,
                                 question["ts"]), kind="interactive")
    await fake.wait_for(lambda: slack_core.history.is_handed_off(key), timeout=WAIT)
    await fake.wait_for(lambda: any(MENTION in p.params.get("text", "")
                                    for p in fake.calls_to("chat.postMessage")), timeout=WAIT)
    handoff = fake.calls_to("chat.postMessage")[-1]
    release = actions_of(handoff)["elements"][0]["value"]

    # The customer (not staff, not an admin) cannot release; the agent (in the group) can.
    await fake.push(block_action("babeldesk_release", release, question["channel"],
                                 handoff.result["ts"], question["ts"]), kind="interactive")
    await fake.wait_for(lambda: len(fake.calls_to("chat.postEphemeral")) == 2, timeout=WAIT)
    assert fake.calls_to("chat.postEphemeral")[1].params["text"] == TEXTS["en"]["only_staff"]
    assert slack_core.history.is_handed_off(key)
    await fake.push(block_action("babeldesk_release", release, question["channel"],
                                 handoff.result["ts"], question["ts"], user=AGENT),
                    kind="interactive")
    await fake.wait_for(lambda: not slack_core.history.is_handed_off(key), timeout=WAIT)
    # A workspace admin outside the group may release too.
    await slack_core.pipeline.hand_off(adapter.message_for(question, envelope(question)))
    fake.users["U0ADMIN001"] = {"is_admin": True}
    await fake.push(block_action("babeldesk_release", release, question["channel"],
                                 handoff.result["ts"], question["ts"], user="U0ADMIN001"),
                    kind="interactive")
    await fake.wait_for(lambda: not slack_core.history.is_handed_off(key), timeout=WAIT)


HANDOFFS = "C0STAFFDESK"


def in_channel(fake, channel):
    return [p for p in fake.calls_to("chat.postMessage") if p.params["channel"] == channel]


async def test_a_dm_offers_a_person_only_where_the_team_is_told(fake, slack_core):
    adapter = await socket_adapter(slack_core, fake)
    try:
        await fake.push(envelope(im_message("How do I get a refund?")))
        await fake.wait_for(lambda: final_updates(fake), timeout=WAIT)
        buttons = [e["action_id"] for e in actions_of(final_updates(fake)[-1])["elements"]]
        # Staff cannot join a DM with the bot, and no handoff channel is set: no false promise.
        assert buttons == ["babeldesk_up", "babeldesk_down"]
    finally:
        await adapter.stop()


async def test_a_dm_handoff_reaches_the_team_who_claim_and_release_it(fake, slack_core):
    adapter = await socket_adapter(slack_core, fake, handoff_channel=HANDOFFS)
    try:
        dm = im_message("¿Cómo consigo un reembolso?", ts="1700060000.000100")
        turn_id, answer_ts = await answered(fake, dm)
        key = adapter.message_for(dm, envelope(dm)).key
        await fake.push(block_action("babeldesk_handoff", turn_id, dm["channel"], answer_ts,
                                     None), kind="interactive")
        await fake.wait_for(lambda: in_channel(fake, HANDOFFS), timeout=WAIT)
        told = [p for p in in_channel(fake, dm["channel"]) if "blocks" not in p.params]
        # The customer is told the truth, in their language: a person will write to them.
        assert told[-1].params["text"] == TEXTS["es"]["handoff_done_direct"]
        notice = in_channel(fake, HANDOFFS)[0].params
        assert notice["text"].startswith(f"{MENTION} ")
        assert "<@U0CUSTOMER>" in notice["text"] and "español" in notice["text"]
        shown = json.dumps(notice["blocks"], ensure_ascii=False)
        assert "> ¿Cómo consigo un reembolso?" in shown  # the question, and the transcript
        assert "🤖" in shown
        claim, release = actions_of(in_channel(fake, HANDOFFS)[0])["elements"]
        assert claim["value"] == release["value"] == key.id

        # A customer who found the notice cannot claim; the agent can.
        notice_ts = in_channel(fake, HANDOFFS)[0].result["ts"]
        await fake.push(block_action("babeldesk_claim", claim["value"], HANDOFFS, notice_ts,
                                     None, user="U0SOMEONE1"), kind="interactive")
        await fake.wait_for(lambda: fake.calls_to("chat.postEphemeral"), timeout=WAIT)
        await fake.push(block_action("babeldesk_claim", claim["value"], HANDOFFS, notice_ts,
                                     None, user=AGENT), kind="interactive")
        claimed = TEXTS["es"]["claimed"].format(agent=f"<@{AGENT}>")
        await fake.wait_for(lambda: in_channel(fake, dm["channel"])[-1].params["text"]
                            == claimed, timeout=WAIT)
        await fake.wait_for(lambda: any(c.params.get("channel") == HANDOFFS
                                        for c in fake.calls_to("chat.update")), timeout=WAIT)
        assert slack_core.history.is_handed_off(key)
        await fake.push(block_action("babeldesk_release", release["value"], HANDOFFS,
                                     notice_ts, None, user=AGENT), kind="interactive")
        await fake.wait_for(lambda: not slack_core.history.is_handed_off(key), timeout=WAIT)
        await fake.wait_for(lambda: in_channel(fake, dm["channel"])[-1].params["text"]
                            == TEXTS["es"]["released"], timeout=WAIT)
    finally:
        await adapter.stop()


async def test_a_channel_handoff_links_the_thread_for_the_team(fake, slack_core):
    adapter = await socket_adapter(slack_core, fake, handoff_channel=HANDOFFS)
    try:
        question = app_mention("How do I get a refund?", ts="1700070000.000100")
        turn_id, answer_ts = await answered(fake, question)
        await fake.push(block_action("babeldesk_handoff", turn_id, question["channel"],
                                     answer_ts, question["ts"]), kind="interactive")
        await fake.wait_for(lambda: in_channel(fake, HANDOFFS), timeout=WAIT)
        shown = json.dumps(in_channel(fake, HANDOFFS)[0].params["blocks"])
        assert f"/archives/{question['channel']}/p1700070000000100" in shown
        assert f"<#{question['channel']}>" in in_channel(fake, HANDOFFS)[0].params["text"]
    finally:
        await adapter.stop()


async def test_a_person_sending_too_fast_is_asked_once_to_wait(fake, slack_core):
    adapter = await socket_adapter(slack_core, fake, user_rate=2)
    try:
        questions = ["¿Cuánto tarda el envío?", "¿Cómo consigo un reembolso?",
                     "¿Cómo restablezco mi contraseña?", "¿Tienen garantía?"]
        for i, text in enumerate(questions):
            sent = await fake.push(envelope(im_message(text, ts=f"17000800{i}0.000100")))
            await settle(fake, adapter, [sent])
        answers = [p for p in fake.calls_to("chat.postMessage")
                   if p.params["text"] == PLACEHOLDER]
        notices = [p for p in fake.calls_to("chat.postMessage")
                   if p.params["text"] == TEXTS["es"]["slow_down"]]
        assert len(answers) == 2 and len(notices) == 1  # the fourth gets nothing at all
        # Another person is not held back by the first.
        other = await fake.push(envelope(message_event(
            "¿Tienen garantía?", channel="D0DIRECT02", ts="1700081000.000100",
            user="U0OTHER001", channel_type="im")))
        await settle(fake, adapter, [other])
        assert fake.calls_to("chat.postMessage")[-1].params["channel"] == "D0DIRECT02"
    finally:
        await adapter.stop()


async def test_blocked_people_and_channels_outside_the_allow_list_get_no_answer(fake,
                                                                               slack_core,
                                                                               scripted):
    adapter = await socket_adapter(slack_core, fake, block_users=["U0TROLL001"],
                                   allow_channels=[SUPPORT])
    try:
        ignored = [await fake.push(envelope(app_mention("How do I get a refund?",
                                                         user="U0TROLL001", channel=SUPPORT))),
                   await fake.push(envelope(app_mention("How do I get a refund?",
                                                        channel="C0RANDOM01",
                                                        ts="1700090000.000100")))]
        await settle(fake, adapter, ignored)
        assert fake.calls_to("chat.postMessage") == [] and scripted.calls == []
        # DMs are not channels: the allow list leaves them alone.
        dm = await fake.push(envelope(im_message("How do I get a refund?")))
        await fake.wait_for(lambda: final_updates(fake), timeout=WAIT)
        await settle(fake, adapter, [dm])
    finally:
        await adapter.stop()


async def test_the_slash_command_answers_privately_and_can_show_everyone(fake, adapter,
                                                                        slack_core):
    url = fake.response_url("1")
    sent = await fake.push(slash_command("¿Cómo consigo un reembolso?", url,
                                         channel="C0GENERAL1"), kind="slash_commands")
    await fake.wait_for(lambda: fake.responses, timeout=WAIT)
    # Acknowledged before the answer was written (Slack's 3 seconds), then answered once.
    assert fake.ack_times[sent] <= fake.responses[0].at
    answer = fake.responses[-1].params
    assert answer["response_type"] == "ephemeral" and answer["text"]
    buttons = {e["action_id"]: e for e in actions_of(fake.responses[-1])["elements"]}
    assert set(buttons) == {"babeldesk_up", "babeldesk_down", "babeldesk_share"}
    assert buttons["babeldesk_share"]["text"]["text"].endswith(TEXTS["es"]["share_button"])
    assert fake.calls_to("chat.postMessage") == [] and fake.calls_to("chat.update") == []
    key = ConversationKey("slack", "T0KETTLE01", "C0GENERAL1", "private-U0CUSTOMER")
    assert slack_core.history.count(key) == 2

    # "Show everyone" by someone else does nothing; by the asker it posts the answer.
    share = buttons["babeldesk_share"]["value"]
    other = await fake.push(ephemeral_action("babeldesk_share", share, "C0GENERAL1", url,
                                             user="U0SOMEONE1"), kind="interactive")
    await settle(fake, adapter, [other])
    assert fake.calls_to("chat.postMessage") == []
    await fake.push(ephemeral_action("babeldesk_share", share, "C0GENERAL1", url),
                    kind="interactive")
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage"), timeout=WAIT)
    public = fake.calls_to("chat.postMessage")[0].params
    assert public["channel"] == "C0GENERAL1" and public["text"] == answer["text"]
    assert "babeldesk_handoff" in json.dumps(public["blocks"])
    await fake.wait_for(lambda: fake.responses[-1].params.get("delete_original"), timeout=WAIT)


async def test_the_assistant_panel_greets_suggests_and_streams(fake, adapter, slack_core,
                                                              scripted):
    fake.users["U0CUSTOMER"] = {"locale": "de-DE"}
    thread = "1700100000.000100"
    started = await fake.push(envelope(assistant_thread_started(thread)))
    await settle(fake, adapter, [started])
    greeting = fake.calls_to("chat.postMessage")[0].params
    assert greeting["text"] == TEXTS["de"]["greeting"] and greeting["thread_ts"] == thread
    prompts = fake.calls_to("assistant.threads.setSuggestedPrompts")[0].params["prompts"]
    assert [p["message"] for p in prompts] == [
        p.strip() for p in TEXTS["de"]["suggested_prompts"].split("|")]

    # A slow answer, so that it streams in several pieces.
    scripted.hold(lambda: fake.calls_to("chat.appendStream"), pace=0.2)
    asked = await fake.push(envelope(assistant_message(
        "Wie bekomme ich eine Rückerstattung? Bitte erkläre alle Schritte.", thread,
        ts="1700100100.000100")))
    await fake.wait_for(lambda: fake.calls_to("chat.stopStream"), timeout=WAIT)
    await settle(fake, adapter, [asked])
    title = fake.calls_to("assistant.threads.setTitle")[0].params
    assert title["title"].startswith("Wie bekomme ich eine Rückerstattung?")
    statuses = [c.params["status"] for c in fake.calls_to("assistant.threads.setStatus")]
    assert statuses == [TEXTS["de"]["status_searching"], TEXTS["de"]["status_writing"]]
    start = fake.calls_to("chat.startStream")[0].params
    assert start["thread_ts"] == thread and start["recipient_user_id"] == "U0CUSTOMER"
    stop = fake.calls_to("chat.stopStream")[0].params
    assert {e["action_id"] for e in actions_of(fake.calls_to("chat.stopStream")[0])[
        "elements"]} == {"babeldesk_up", "babeldesk_down"}  # a DM with no handoff channel
    streamed = start["markdown_text"] + "".join(
        c.params["markdown_text"] for c in fake.calls_to("chat.appendStream")) + \
        (stop.get("markdown_text") or "")
    assert streamed == stop["blocks"][0]["text"]["text"]  # the whole answer, streamed once
    assert fake.calls_to("chat.update") == []
    key = ConversationKey("slack", "T0KETTLE01", "D0DIRECT01", thread)
    assert slack_core.history.count(key) == 2


async def test_without_slack_streaming_the_assistant_edits_its_message(fake, adapter,
                                                                      scripted):
    fake.streaming_unavailable = "unknown_method"
    # A DM thread that is not an assistant thread: Slack refuses a status and a title there.
    fake.failing_methods.update({"assistant.threads.setStatus": "invalid_thread_ts",
                                 "assistant.threads.setTitle": "invalid_thread_ts"})
    thread = "1700110000.000100"
    scripted.hold(lambda: len(fake.calls) > 50 or fake.calls_to("chat.update"), pace=0.2)
    asked = await fake.push(envelope(assistant_message(
        "How do I get a refund? Please explain every step.", thread, ts="1700110100.000100")))
    await fake.wait_for(lambda: final_updates(fake), timeout=WAIT)
    await settle(fake, adapter, [asked])
    first = fake.calls_to("chat.postMessage")[0].params
    assert first["thread_ts"] == thread and first["channel"] == "D0DIRECT01"
    assert all(u.params["ts"] == fake.calls_to("chat.postMessage")[0].result["ts"]
               for u in fake.calls_to("chat.update"))
    assert actions_of(final_updates(fake)[-1])
    assert len(fake.calls_to("chat.startStream")) == 1  # tried once, then not again


async def test_a_first_message_too_short_to_tell_follows_the_users_slack_locale(fake, adapter,
                                                                              slack_core):
    fake.users["U0CUSTOMER"] = {"locale": "de-DE"}
    dm = im_message("ok danke", ts="1700120000.000100")
    await fake.push(envelope(dm))
    await fake.wait_for(lambda: final_updates(fake), timeout=WAIT)
    key = adapter.message_for(dm, envelope(dm)).key
    assert slack_core.history.language(key) == "de"
    asked = [c.params for c in fake.calls_to("users.info")]
    assert asked and all(p["include_locale"] in ("1", "true", True) for p in asked)
