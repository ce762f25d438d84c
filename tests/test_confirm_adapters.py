"""Actions that wait for the customer's yes, on every platform: real slack-bolt and discord.py
against the fake Slack and the fake Discord, and the terminal driven through its streams, with
the example shop (examples/shop.py) started on 127.0.0.1 and its actions
(examples/shop-config.yaml) in the config.

The stand-in engine of engines.py answers and chooses the action (its `choose` goes by the
message's words), so that these test the adapters and not the model. Each test waits for what
the fake platform or the shop received, never for time to pass."""

from __future__ import annotations

import copy
import io
import json

import pytest
from fake_discord import SUPPORT as DISCORD_SUPPORT
from fake_discord import (APP_ID, BOT_ID, GENERAL, OTHER_BOT, SUPPORT_ROLE, app_command,
                          interaction_create, mention, message_create)
from fake_slack import app_mention, block_action, envelope, ephemeral_action, slash_command
# the fakes, the connected adapters and their helpers, as the main platform tests have them
from test_discord import connected, custom_ids, finished, interaction_callbacks, posts
from test_slack import (MENTION, STAFF, SUPPORT, actions_of, fake,  # noqa: F401
                        final_updates, settle, socket_adapter)

from adapters.reply import Replies
from adapters.terminal import TerminalAdapter, yes_no_words
from bot.core import open_core
from bot.message import Answer
from bot.texts import TEXTS
from helpers import import_shop, shop_actions

#: deadlines, not expectations: a loaded machine is slow, and an idle one passes at once
WAIT = 120
SHOP_TOKEN = "t0ken-for-the-confirmation-tests"
BYSTANDER = "U0BYSTANDER"
EN = TEXTS["en"]

WHERE = "where is my order 48213?"
BROKEN = "my kettle arrived broken, please open a ticket, order 51007"
FAILED = f"{EN['action_failed']} {EN['handoff']}"


shop_module = import_shop()


class Shop:
    """The example shop, started in the test's event loop."""

    def __init__(self, runner, base, app):
        self.runner, self.base, self.app = runner, base, app
        self.running = True

    @property
    def requests(self) -> list:
        """(method, path, body) of every request, oldest first."""
        return self.app[shop_module.REQUESTS_KEY]

    async def stop(self) -> None:
        if self.running:
            self.running = False
            await self.runner.cleanup()


@pytest.fixture
async def shop(monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", SHOP_TOKEN)  # babeldesk's side: the headers name it
    runner, base, app = await shop_module.start(token=SHOP_TOKEN)
    started = Shop(runner, base, app)
    yield started
    await started.stop()


def open_shop_core(write_config, engine, shop, adapters=None):
    config = write_config(shop_actions(shop.base), model={"max_tokens": 400},
                          adapters=adapters or {})
    return open_core(config, engine=engine, watch=False)


# -- the shared reply protocol --

def test_a_confirmation_gets_exactly_confirm_and_decline_in_its_language(write_config,
                                                                         scripted):
    core = open_core(write_config(), engine=scripted, watch=False)
    try:
        replies = Replies(core.pipeline, 1.0)
        asking = Answer("¿Confirmas?", "es", kind="confirm", turn_id=7, action_call=12)
        buttons = replies.buttons(asking)
        assert [(b.action, b.value, b.label, b.emoji) for b in buttons] == [
            ("confirm", "12", TEXTS["es"]["confirm_button"], "✅"),
            ("decline", "12", TEXTS["es"]["decline_button"], "✖️")]
        assert replies.buttons(asking, handoff=False) == buttons  # a DM confirms too
        # An offer of a person and a failed action keep "talk to a human", where staff are.
        for kind in ("handoff_offered", "action_failed", "action_declined"):
            shown = replies.buttons(Answer("…", "en", kind=kind, turn_id=7))
            assert [b.action for b in shown] == ["human"], kind
            assert replies.buttons(Answer("…", "en", kind=kind, turn_id=7), False) == []
        # A second press is told the request expired: nothing to press there.
        assert replies.buttons(Answer("…", "en", kind="action_expired")) == []
    finally:
        core.close()


def test_the_terminal_takes_y_n_yes_no_and_each_labels_first_letter():
    assert yes_no_words(EN["confirm_button"], EN["decline_button"]) == (
        {"y", "yes"}, {"n", "no"})
    assert yes_no_words("Ja, bitte", "Nein, nicht") == ({"y", "yes", "j"}, {"n", "no"})
    assert yes_no_words("Sí, adelante", "No") == ({"y", "yes", "s"}, {"n", "no"})
    assert yes_no_words("Oui", "Annuler") == ({"y", "yes", "o"}, {"n", "no", "a"})
    # labels that start alike: only y / n
    assert yes_no_words("Do it", "Don't") == ({"y", "yes"}, {"n", "no"})


# -- Slack --

SLACK = {"slack": {"support_channels": [SUPPORT], "handoff_mention": MENTION,
                   "staff_group": STAFF}}


@pytest.fixture
def slack_shop_core(write_config, scripted, shop):
    core = open_shop_core(write_config, scripted, shop, SLACK)
    yield core
    core.close()


@pytest.fixture
async def slack_adapter(fake, slack_shop_core):
    adapter = await socket_adapter(slack_shop_core, fake)
    yield adapter
    await adapter.stop()


def slack_context(call) -> str:
    return " ".join(e.get("text", "") for b in call.params["blocks"] if b["type"] == "context"
                    for e in b["elements"])


def slack_buttons(call) -> list[tuple[str, str]]:
    found = actions_of(call)
    return [(e["action_id"], e["value"]) for e in found["elements"]] if found else []


async def slack_asked(fake, text, ts, thread_ts=None):
    """Mention the bot with `text`; the last message of its answer, once it is whole."""
    done = len(final_updates(fake))
    await fake.push(envelope(app_mention(text, channel="C0GENERAL1", ts=ts,
                                         **({"thread_ts": thread_ts} if thread_ts else {}))))
    await fake.wait_for(lambda: len(final_updates(fake)) > done, timeout=WAIT)
    return final_updates(fake)[-1]


def slack_press(action_id, value, asking, thread_ts, user="U0CUSTOMER"):
    """A press on a button of `asking` (the bot's message as it was posted)."""
    return block_action(action_id, value, asking.params["channel"], asking.params["ts"],
                        thread_ts, user=user, text=asking.params["text"],
                        blocks=asking.params["blocks"])


async def test_slack_an_order_lookup_is_answered_and_cited_without_a_question(
        fake, slack_adapter, shop, scripted):
    final = await slack_asked(fake, WHERE, "1700200000.000100")
    assert "actions/order_status" in slack_context(final)
    assert [a for a, _ in slack_buttons(final)] == ["babeldesk_up", "babeldesk_down",
                                                    "babeldesk_handoff"]
    assert shop.requests == [("GET", "/orders/48213", None)]
    assert [call.name for _, call in scripted.choices] == ["order_status"]


async def test_slack_a_ticket_waits_for_the_askers_yes_and_is_opened_once(
        fake, slack_adapter, slack_shop_core, shop):
    thread = "1700210000.000100"
    asking = await slack_asked(fake, BROKEN, thread)
    buttons = slack_buttons(asking)
    assert [a for a, _ in buttons] == ["babeldesk_confirm", "babeldesk_decline"]
    call_id = buttons[0][1]
    assert buttons[1][1] == call_id
    labels = [e["text"]["text"] for e in actions_of(asking)["elements"]]
    assert labels == [f"✅ {EN['confirm_button']}", f"✖️ {EN['decline_button']}"]
    assert asking.params["text"].startswith(EN["action_confirm"].split("{")[0].strip())
    assert shop.requests == []  # nothing is sent before the yes

    # Someone else in the channel presses it: told privately, nothing sent, buttons stay.
    updates = len(fake.calls_to("chat.update"))
    other = await fake.push(slack_press("babeldesk_confirm", call_id, asking, thread,
                                        user=BYSTANDER), kind="interactive")
    await fake.wait_for(lambda: fake.calls_to("chat.postEphemeral"), timeout=WAIT)
    await settle(fake, slack_adapter, [other])
    told = fake.calls_to("chat.postEphemeral")[0].params
    assert (told["user"], told["text"], told["thread_ts"]) == \
        (BYSTANDER, EN["only_asker_action"], thread)
    assert shop.requests == [] and len(fake.calls_to("chat.update")) == updates

    # The asker presses it: the buttons go, the ticket is opened, the answer cites it.
    mine = await fake.push(slack_press("babeldesk_confirm", call_id, asking, thread),
                           kind="interactive")
    await fake.wait_for(lambda: "actions/open_ticket" in slack_context(
        final_updates(fake)[-1]), timeout=WAIT)
    await settle(fake, slack_adapter, [mine])
    assert shop.requests == [("POST", "/tickets", {
        "summary": BROKEN, "order_id": "51007"})]
    unbuttoned = [u for u in fake.calls_to("chat.update")[updates:]
                  if u.params["ts"] == asking.params["ts"]]
    assert len(unbuttoned) == 1
    assert unbuttoned[0].params["text"] == asking.params["text"]
    assert [b["type"] for b in unbuttoned[0].params["blocks"]] == ["section"]
    assert unbuttoned[0].params["blocks"][0] == asking.params["blocks"][0]
    outcome = final_updates(fake)[-1]
    assert outcome.params["ts"] != asking.params["ts"]
    placed = next(p for p in fake.calls_to("chat.postMessage")
                  if p.result.get("ts") == outcome.params["ts"])
    assert placed.params["thread_ts"] == thread and placed.params["channel"] == "C0GENERAL1"
    assert "T-1001" in outcome.params["text"]
    assert [a for a, _ in slack_buttons(outcome)] == ["babeldesk_up", "babeldesk_down",
                                                      "babeldesk_handoff"]

    # A second press (a double click before the buttons went) sends nothing again.
    again = await fake.push(slack_press("babeldesk_confirm", call_id, asking, thread),
                            kind="interactive")
    await fake.wait_for(lambda: fake.calls_to("chat.update")[-1].params["text"]
                        == EN["action_expired"], timeout=WAIT)
    await settle(fake, slack_adapter, [again])
    assert len(shop.requests) == 1
    key = slack_adapter.message_for(app_mention(BROKEN, channel="C0GENERAL1", ts=thread),
                                    {}).key
    # the question, the confirmation, the yes and the outcome
    assert slack_shop_core.history.count(key) == 4


async def test_slack_a_declined_ticket_is_not_opened(fake, slack_adapter, shop):
    thread = "1700220000.000100"
    asking = await slack_asked(fake, BROKEN, thread)
    call_id = slack_buttons(asking)[1][1]
    updates = len(fake.calls_to("chat.update"))
    pressed = await fake.push(slack_press("babeldesk_decline", call_id, asking, thread),
                              kind="interactive")
    await fake.wait_for(lambda: final_updates(fake)[-1].params["text"]
                        == EN["action_declined"], timeout=WAIT)
    await settle(fake, slack_adapter, [pressed])
    assert shop.requests == []
    unbuttoned = fake.calls_to("chat.update")[updates]
    assert unbuttoned.params["ts"] == asking.params["ts"]
    assert [b["type"] for b in unbuttoned.params["blocks"]] == ["section"]
    # a person may still be called in
    assert [a for a, _ in slack_buttons(final_updates(fake)[-1])] == ["babeldesk_handoff"]


async def test_slack_a_shop_that_is_down_gets_an_apology_and_the_human_button(
        fake, slack_adapter, shop):
    await shop.stop()
    failed = await slack_asked(fake, WHERE, "1700230000.000100")
    assert failed.params["text"] == FAILED
    assert [a for a, _ in slack_buttons(failed)] == ["babeldesk_handoff"]
    # The bot goes on answering.
    answered = await slack_asked(fake, "How do I get a refund?", "1700230100.000100")
    assert "en/" in slack_context(answered)
    assert [a for a, _ in slack_buttons(answered)] == ["babeldesk_up", "babeldesk_down",
                                                       "babeldesk_handoff"]


async def test_slack_a_private_answer_confirms_privately(fake, slack_adapter, shop):
    url = fake.response_url("1")
    await fake.push(slash_command(BROKEN, url, channel="C0GENERAL1"), kind="slash_commands")
    await fake.wait_for(lambda: fake.responses, timeout=WAIT)
    asking = fake.responses[-1].params
    buttons = [(e["action_id"], e["value"]) for e in actions_of(fake.responses[-1])["elements"]]
    assert [a for a, _ in buttons] == ["babeldesk_confirm", "babeldesk_decline"]
    pressed = await fake.push(ephemeral_action("babeldesk_confirm", buttons[0][1],
                                               "C0GENERAL1", url), kind="interactive")
    await fake.wait_for(lambda: len(fake.responses) >= 3, timeout=WAIT)
    await settle(fake, slack_adapter, [pressed])
    # The private question keeps its text and loses its buttons; the outcome follows, privately.
    replaced, outcome = fake.responses[1].params, fake.responses[2].params
    assert replaced["replace_original"] is True and replaced["text"] == asking["text"]
    assert "actions" not in [b["type"] for b in replaced["blocks"]]
    assert outcome["response_type"] == "ephemeral" and "T-1001" in outcome["text"]
    assert "actions/open_ticket" in json.dumps(outcome["blocks"])
    assert shop.requests == [("POST", "/tickets", {"summary": BROKEN, "order_id": "51007"})]
    assert fake.calls_to("chat.postMessage") == [] and fake.calls_to("chat.update") == []


# -- Discord --

@pytest.fixture
def discord_shop_core(write_config, scripted, shop):
    core = open_shop_core(write_config, scripted, shop, {"discord": {
        "support_channels": [str(DISCORD_SUPPORT)], "handoff_role": str(SUPPORT_ROLE)}})
    yield core
    core.close()


@pytest.fixture
async def discord_adapter(discord_fake, discord_shop_core):
    adapter = await connected(discord_shop_core)
    yield adapter
    await adapter.stop()


async def discord_settle(fake, adapter):
    await fake.wait_until_read(timeout=WAIT)
    await fake.wait_for(lambda: not adapter.handlers.tasks, timeout=WAIT)


async def discord_asked(fake, text):
    """Mention the bot in GENERAL; the last message of its answer, once it is whole."""
    done = len(finished(fake, GENERAL))
    await fake.dispatch("MESSAGE_CREATE", message_create(f"{mention(BOT_ID)} {text}", GENERAL,
                                                         mentions=[BOT_ID]))
    await fake.wait_for(lambda: len(finished(fake, GENERAL)) > done, timeout=WAIT)
    return finished(fake, GENERAL)[-1]


def discord_sources(call) -> str:
    return " ".join(e.get("description", "") for e in call.json.get("embeds") or [])


def kinds(call) -> list[str]:
    return [i.split(":")[1] for i in custom_ids(call)]


async def test_discord_an_order_lookup_is_answered_and_cited_without_a_question(
        discord_fake, discord_adapter, shop):
    final = await discord_asked(discord_fake, WHERE)
    assert "actions/order_status" in discord_sources(final)
    assert kinds(final) == ["up", "down", "human"]
    assert shop.requests == [("GET", "/orders/48213", None)]


async def test_discord_a_ticket_waits_for_the_askers_yes_and_is_opened_once(
        discord_fake, discord_adapter, discord_shop_core, shop):
    fake = discord_fake
    asking = await discord_asked(fake, BROKEN)
    confirm, decline = custom_ids(asking)
    assert confirm.split(":")[:2] == ["babeldesk", "confirm"]
    assert decline.split(":")[:2] == ["babeldesk", "decline"]
    assert confirm.rsplit(":", 1)[1] == decline.rsplit(":", 1)[1]
    labels = [b["label"] for row in asking.json["components"] for b in row["components"]]
    assert labels == [EN["confirm_button"], EN["decline_button"]]
    assert shop.requests == []
    message = fake.messages[int(asking.response["id"])]
    stale = copy.deepcopy(message)  # as a second click on the same buttons would carry it

    await fake.dispatch("INTERACTION_CREATE", interaction_create(confirm, message,
                                                                 user=OTHER_BOT + 7))
    await fake.wait_for(lambda: interaction_callbacks(fake), timeout=WAIT)
    await discord_settle(fake, discord_adapter)
    told = interaction_callbacks(fake)[-1].json
    assert told["data"]["flags"] == 64 and told["data"]["content"] == EN["only_asker_action"]
    assert shop.requests == [] and fake.messages[int(asking.response["id"])]["components"]

    await fake.dispatch("INTERACTION_CREATE", interaction_create(confirm, message))
    await fake.wait_for(lambda: "actions/open_ticket" in discord_sources(
        finished(fake, GENERAL)[-1]), timeout=WAIT)
    await discord_settle(fake, discord_adapter)
    assert shop.requests == [("POST", "/tickets", {"summary": BROKEN, "order_id": "51007"})]
    pressed = interaction_callbacks(fake)[-1].json
    assert pressed["type"] == 7 and pressed["data"]["components"] == []  # the buttons went
    question = fake.messages[int(asking.response["id"])]
    assert question["components"] == [] and question["content"] == asking.json["content"]
    outcome = finished(fake, GENERAL)[-1]
    assert "T-1001" in outcome.json["content"]
    assert kinds(outcome) == ["up", "down", "human"]

    await fake.dispatch("INTERACTION_CREATE", interaction_create(confirm, stale))
    await fake.wait_for(lambda: any(c.json and c.json.get("content") == EN["action_expired"]
                                    for c in posts(fake, GENERAL)), timeout=WAIT)
    await discord_settle(fake, discord_adapter)
    assert len(shop.requests) == 1


async def test_discord_a_declined_ticket_is_not_opened(discord_fake, discord_adapter, shop):
    fake = discord_fake
    asking = await discord_asked(fake, BROKEN)
    _, decline = custom_ids(asking)
    await fake.dispatch("INTERACTION_CREATE", interaction_create(
        decline, fake.messages[int(asking.response["id"])]))
    await fake.wait_for(lambda: finished(fake, GENERAL)[-1].json["content"]
                        == EN["action_declined"], timeout=WAIT)
    await discord_settle(fake, discord_adapter)
    assert shop.requests == []
    assert kinds(finished(fake, GENERAL)[-1]) == ["human"]
    assert fake.messages[int(asking.response["id"])]["components"] == []


async def test_discord_a_shop_that_is_down_gets_an_apology_and_the_human_button(
        discord_fake, discord_adapter, shop):
    await shop.stop()
    failed = await discord_asked(discord_fake, WHERE)
    assert failed.json["content"] == FAILED and kinds(failed) == ["human"]
    answered = await discord_asked(discord_fake, "How do I get a refund?")
    assert "en/" in discord_sources(answered)
    assert kinds(answered) == ["up", "down", "human"]


async def test_discord_a_private_answer_confirms_privately(discord_fake, discord_adapter,
                                                            shop):
    fake = discord_fake
    followups = lambda: [c for c in fake.calls_to("POST", rf"/webhooks/{APP_ID}/[^/]+")  # noqa
                         + fake.calls_to("PATCH", rf"/webhooks/{APP_ID}/[^/]+/messages/\w+")
                         if (c.json or {}).get("components") and c.status == 200]
    await fake.dispatch("INTERACTION_CREATE", app_command(
        "ask", {"question": BROKEN, "private": True}, locale="en-US"))
    await fake.wait_for(followups, timeout=WAIT)
    asking = followups()[-1]
    confirm, _ = custom_ids(asking)
    assert confirm.split(":")[1] == "confirm"
    message = fake.messages[int(asking.response["id"])]
    await fake.dispatch("INTERACTION_CREATE", interaction_create(confirm, message))
    await fake.wait_for(lambda: len(followups()) == 2, timeout=WAIT)
    await discord_settle(fake, discord_adapter)
    assert interaction_callbacks(fake)[-1].json["data"]["components"] == []
    outcome = followups()[-1]
    assert outcome.json["flags"] & 64 and "T-1001" in outcome.json["content"]
    assert "actions/open_ticket" in discord_sources(outcome)
    assert shop.requests == [("POST", "/tickets", {"summary": BROKEN, "order_id": "51007"})]
    assert posts(fake, GENERAL) == []


# -- the terminal --

async def chat(core, lines: list[str], conversation: str) -> str:
    stdin = io.BytesIO("".join(f"{line}\n" for line in lines).encode("utf-8"))
    stdout = io.StringIO()
    await TerminalAdapter(core.pipeline, conversation=conversation, stdin=stdin,
                          stdout=stdout, author="tester").run()
    return stdout.getvalue()


async def test_the_terminal_asks_y_n_and_prints_the_outcome_with_its_sources(
        write_config, scripted, shop):
    core = open_shop_core(write_config, scripted, shop)
    try:
        out = await chat(core, [BROKEN, "maybe", "y", WHERE], "t-yes")
        question = EN["action_confirm"].split("{")[0].strip()
        assert question in out
        prompt = f"[y/n] ({EN['confirm_button']} / {EN['decline_button']})> "
        assert out.count(prompt) == 2  # "maybe" is neither: asked again
        assert out.count("bot> ") == 3
        assert shop.requests == [
            ("POST", "/tickets", {"summary": BROKEN, "order_id": "51007"}),
            ("GET", "/orders/48213", None)]
        assert "[en] Sources: actions/open_ticket › " in out
        assert "[en] Sources: actions/order_status › 48213" in out
        assert out.index(prompt) < out.index("actions/open_ticket")

        out = await chat(core, [BROKEN, "No"], "t-no")
        assert EN["action_declined"] in out and len(shop.requests) == 2

        # The input ends at the question: nothing is sent.
        out = await chat(core, [BROKEN], "t-eof")
        assert prompt in out and len(shop.requests) == 2
    finally:
        core.close()
