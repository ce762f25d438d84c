"""The Slack adapter's less travelled paths, against the fake Slack (which refuses what breaks
Block Kit's limits, as Slack does): a long answer split into several thread messages, a
placeholder deleted when people took the conversation over meanwhile, the settings that keep
the bot quiet (direct_messages: false, ignore_channels), and Socket Mode reconnecting when
Slack asks it to or the connection drops.

The stand-in engine of engines.py answers, so that these test the adapter and not the model's
speed."""

from __future__ import annotations

import re
import threading

import pytest
from fake_slack import BOT_USER, MAX_TEXT_OBJECT, app_mention, envelope, im_message
# the fake Slack, a core and a connected adapter, as the main Slack tests set them up
from test_slack import (SUPPORT, WAIT, adapter, fake, open_slack_core, settle,  # noqa: F401
                        slack_core, socket_adapter)

from adapters.slack import PLACEHOLDER, to_mrkdwn

GENERAL = "C0GENERAL1"
IGNORED = "C0OFFTOPIC"


def finals(fake):
    """The messages that carried an answer's buttons, and that Slack took."""
    return [c for c in fake.calls_to("chat.postMessage") + fake.calls_to("chat.update")
            if any(b["type"] == "actions" for b in c.params.get("blocks", []))
            and c.result.get("ok")]


# -- a long answer --------------------------------------------------------------------------

#: sentences of the descaling article, so that the answer check lets them through
PROSE = ("Limescale builds up faster in hard-water areas. Fill the kettle with a mix of half "
         "water and half white vinegar, and boil it. Pour it away and rinse the kettle twice "
         "with clean water. ")
#: a code block longer than a Slack message: short lines (the check judges only their facts),
#: with blank lines between them, as a model writes a script's steps; a comment and a YAML
#: list item are code too, not a heading and a bullet
COMMANDS = ["# descale it", "kettle fill --half-water", "kettle fill --half-vinegar",
            "kettle boil --wait", "kettle pour --away", "- rinse: twice"]
CODE = "```\n" + "\n\n".join(COMMANDS[i % len(COMMANDS)] for i in range(250)) + "\n```"
ENDING = "Rinse the kettle twice with clean water before the next boil."
LONG_ANSWER = f"{PROSE * 10}\n\n{CODE}\n\n{PROSE * 2}{ENDING}"


def test_markdown_becomes_mrkdwn_but_code_stays_as_written():
    answer = ("## Descaling\n\n- **Fill** the kettle, see [the guide](https://example.com/d).\n"
              "Run `kettle **now**` or:\n\n```yaml\n# descale it\n- rinse: twice\n"
              "opts: **all**\n```\n\n```sh\n# still being written")
    assert to_mrkdwn(answer) == (
        "*Descaling*\n\n• *Fill* the kettle, see <https://example.com/d|the guide>.\n"
        "Run `kettle **now**` or:\n\n```yaml\n# descale it\n- rinse: twice\n"
        "opts: **all**\n```\n\n```sh\n# still being written")


@pytest.fixture
def long_core(write_config, scripted):
    # Room for an answer of a few thousand words.
    scripted.n_ctx = 16384
    core = open_slack_core(write_config, scripted, n_ctx=16384, max_tokens=4000)
    yield core
    core.close()


async def test_a_long_answer_is_split_into_thread_messages_within_slacks_limits(fake,
                                                                                long_core,
                                                                                scripted):
    adapter = await socket_adapter(long_core, fake)
    try:
        scripted.answer = LONG_ANSWER
        event = app_mention("How do I descale my kettle?", channel=GENERAL,
                            ts="1700100000.000100")
        pushed = await fake.push(envelope(event))
        await fake.wait_for(lambda: finals(fake), timeout=WAIT)
        await settle(fake, adapter, [pushed])
    finally:
        await adapter.stop()

    placeholder = fake.calls_to("chat.postMessage")[0]
    assert placeholder.params["text"] == PLACEHOLDER
    ts = placeholder.result["ts"]
    # The placeholder became the first part; the others followed it in the thread, in order.
    first = [c for c in fake.calls_to("chat.update") if c.params["ts"] == ts][-1]
    rest = fake.calls_to("chat.postMessage")[1:]
    parts = [first] + rest
    assert len(parts) >= 3, [len(p.params["text"]) for p in parts]
    assert all(p.result["ok"] for p in fake.calls)
    assert all(p.params["channel"] == GENERAL and p.params["thread_ts"] == event["ts"]
               for p in rest)
    texts = [p.params["text"] for p in parts]
    assert all(len(t) <= MAX_TEXT_OBJECT for t in texts), [len(t) for t in texts]
    # The code block was cut: each part that has some of it opens and closes it.
    assert all(t.count("```") % 2 == 0 for t in texts), [t.count("```") for t in texts]
    assert sum("```" in t for t in texts) >= 2
    # Nothing lost, nothing added: the parts, fences taken out, are the answer.
    shown = re.sub(r"\s+", " ", " ".join(t.replace("```", " ") for t in texts)).strip()
    assert shown == re.sub(r"\s+", " ", LONG_ANSWER.replace("```", " ")).strip()
    # Only the last part carries the sources and the buttons; it ends the answer.
    assert finals(fake) == [parts[-1]]
    shown_blocks = [[b["type"] for b in p.params.get("blocks", [])] for p in parts]
    assert all(set(types) <= {"section"} for types in shown_blocks[:-1]), shown_blocks
    blocks = parts[-1].params["blocks"]
    assert blocks[0]["text"]["text"] == texts[-1] and texts[-1].endswith(ENDING)
    buttons = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["babeldesk_up", "babeldesk_down", "babeldesk_handoff"]


# -- handed off while the answer was being written -------------------------------------------

async def test_a_placeholder_is_deleted_when_people_took_over_meanwhile(fake, adapter,
                                                                       slack_core, scripted):
    # The first question's answer is held while a follow-up comes in the same thread; the
    # follow-up waits its turn, its placeholder posted. Then the customer is handed off.
    go = threading.Event()
    scripted.hold(go.is_set, after=1)
    first = app_mention("How do I descale my kettle?", channel=GENERAL, ts="1700200000.000100")
    body = envelope(first)
    pushed = [await fake.push(body)]
    await fake.wait_for(lambda: scripted.calls, timeout=WAIT)
    follow_up = app_mention("And how often should I do it?", channel=GENERAL,
                            ts="1700200050.000100", thread_ts=first["ts"])
    pushed.append(await fake.push(envelope(follow_up)))
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 2, timeout=WAIT)
    key = adapter.message_for(first, body).key
    await slack_core.pipeline.hand_off(adapter.message_for(first, body))
    go.set()
    await fake.wait_for(lambda: fake.calls_to("chat.delete"), timeout=WAIT)
    await settle(fake, adapter, pushed)

    held, waiting = fake.calls_to("chat.postMessage")
    assert held.params["thread_ts"] == waiting.params["thread_ts"] == first["ts"]
    # The answer being written when it happened is finished; the follow-up's placeholder goes.
    assert [f.params["ts"] for f in finals(fake)] == [held.result["ts"]]
    deleted = fake.calls_to("chat.delete")
    assert [(d.params["channel"], d.params["ts"]) for d in deleted] == \
        [(GENERAL, waiting.result["ts"])]
    assert deleted[0].result["ok"]
    assert not [u for u in fake.calls_to("chat.update")
                if u.params["ts"] == waiting.result["ts"]]
    assert len(scripted.calls) == 1  # the follow-up was never written
    assert slack_core.history.count(key) == 2 and slack_core.history.is_handed_off(key)


# -- settings that keep the bot quiet --------------------------------------------------------

async def test_direct_messages_off_leaves_dms_unanswered(fake, slack_core, scripted):
    adapter = await socket_adapter(slack_core, fake, direct_messages=False)
    try:
        dms = [im_message("How do I get a refund?", ts="1700300000.000100"),
               im_message(f"<@{BOT_USER}> How do I get a refund?", ts="1700300010.000100")]
        ids = [await fake.push(envelope(dm)) for dm in dms]
        # A mention in a channel is still answered: the bot is up, it only keeps out of DMs.
        asked = app_mention("How do I get a refund?", channel=GENERAL, ts="1700300020.000100")
        ids.append(await fake.push(envelope(asked)))
        await fake.wait_for(lambda: finals(fake), timeout=WAIT)
        await settle(fake, adapter, ids)
    finally:
        await adapter.stop()
    assert {c.params["channel"] for c in fake.calls if c.method.startswith("chat.")} \
        == {GENERAL}
    assert len(scripted.calls) == 1


async def test_ignored_channels_get_no_answer_even_to_a_mention(fake, slack_core, scripted):
    adapter = await socket_adapter(slack_core, fake, ignore_channels=[IGNORED, SUPPORT])
    try:
        quiet = [app_mention("How do I get a refund?", channel=IGNORED, ts="1700400000.000100"),
                 app_mention("And how long does it take?", channel=IGNORED,
                             ts="1700400010.000100", thread_ts="1700400000.000100"),
                 # a support channel that is also ignored: ignoring wins
                 app_mention("How do I get a refund?", channel=SUPPORT, ts="1700400020.000100")]
        ids = [await fake.push(envelope(event)) for event in quiet]
        asked = app_mention("How do I get a refund?", channel=GENERAL, ts="1700400030.000100")
        ids.append(await fake.push(envelope(asked)))
        await fake.wait_for(lambda: finals(fake), timeout=WAIT)
        await settle(fake, adapter, ids)
    finally:
        await adapter.stop()
    assert {c.params["channel"] for c in fake.calls if c.method.startswith("chat.")} \
        == {GENERAL}
    assert len(scripted.calls) == 1


# -- Socket Mode reconnecting ----------------------------------------------------------------

async def answered_on_the_new_socket(fake, adapter, ts):
    """A mention pushed on the newest socket is acknowledged there and answered."""
    asked = app_mention("How do I get a refund?", channel=GENERAL, ts=ts)
    pushed = await fake.push(envelope(asked))
    await fake.wait_for(lambda: finals(fake), timeout=WAIT)
    await settle(fake, adapter, [pushed])
    assert fake.ack_sockets[pushed] == len(fake.sockets) - 1
    assert [p.params["thread_ts"] for p in fake.calls_to("chat.postMessage")] == [ts]


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
async def test_a_disconnect_frame_makes_the_adapter_reconnect(fake, adapter, reason):
    await fake.disconnect(reason)
    await fake.wait_for_socket(timeout=WAIT, count=2)
    # A new socket URL was asked for, as Slack's URLs are good for one connection.
    assert fake.connections_opened == 2
    await answered_on_the_new_socket(fake, adapter, "1700500000.000100")
    assert len(fake.sockets) == 2


@pytest.mark.parametrize("abrupt", [True, False], ids=["connection-lost", "close-frame"])
async def test_a_dropped_socket_is_reconnected(fake, adapter, abrupt):
    await fake.drop_socket(abrupt=abrupt)
    await fake.wait_for_socket(timeout=WAIT, count=2)
    assert fake.connections_opened == 2
    await answered_on_the_new_socket(fake, adapter, "1700600000.000100")
