"""Actions end to end with the real model: the embedded model chooses, the example shop
(examples/shop.py, started on 127.0.0.1) answers, SQLite records each call."""

from __future__ import annotations

import pytest

from bot.core import open_core
from helpers import import_shop, message, shop_actions

pytestmark = pytest.mark.model

shop = import_shop()
TOKEN = "test-shop-token"


@pytest.fixture
async def started_shop(monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    runner, base_url, app = await shop.start(token=TOKEN)
    try:
        yield base_url, app
    finally:
        await runner.cleanup()


@pytest.fixture
def acting_core(write_config, engine, started_shop):
    base_url, _ = started_shop
    core = open_core(write_config(**shop_actions(base_url)), engine=engine)
    yield core
    core.close()


def sent(app) -> list[tuple[str, str]]:
    return [(method, path) for method, path, _ in app[shop.REQUESTS_KEY]]


async def test_an_order_number_is_looked_up_and_the_answer_cites_it(acting_core,
                                                                    started_shop):
    _, app = started_shop
    answer = await acting_core.pipeline.answer(message("Where is my order 48213?"))
    assert sent(app) == [("GET", "/orders/48213")]
    assert answer.kind == "answer" and answer.origin == "action"
    assert [s.path for s in answer.sources] == ["actions/order_status"]
    # The model's words or the fields themselves: either way, what the shop said.
    assert "shipped" in answer.text.lower() or "dhl" in answer.text.lower()
    (call,) = acting_core.history.action_calls(message("").key)
    assert (call.action, call.arguments, call.status) == ("order_status",
                                                          {"order_id": "48213"}, "ok")


async def test_a_cancellation_waits_for_the_customers_yes_and_is_sent_once(acting_core,
                                                                          started_shop):
    _, app = started_shop
    pipeline = acting_core.pipeline
    asked = await pipeline.answer(message("Please cancel my order 48214."))
    assert asked.kind == "confirm" and asked.action_call
    assert sent(app) == []  # nothing changes before the customer says yes
    assert pipeline.texts.get("action_confirm", "en").split("{")[0].strip() in asked.text
    assert "48214" in asked.text
    done = await pipeline.confirm(message("", author="U1"), asked.action_call, True)
    assert sent(app) == [("POST", "/orders/48214/cancel")]
    assert done.kind == "answer"
    assert [s.path for s in done.sources] == ["actions/cancel_order"]
    again = await pipeline.confirm(message("", author="U1"), asked.action_call, True)
    assert again.kind == "action_expired" and sent(app) == [("POST", "/orders/48214/cancel")]
    (call,) = acting_core.history.action_calls(message("").key)
    assert (call.action, call.arguments, call.status) == ("cancel_order",
                                                          {"order_id": "48214"}, "ok")
    # The customer's press and the result are the conversation's latest turns.
    turns = acting_core.history.recent(message("").key, 2)
    assert turns[0].text == pipeline.texts.get("confirm_button", "en")
    assert turns[1].text == done.text


async def test_no_order_number_is_made_up_and_a_no_sends_nothing(acting_core, started_shop):
    _, app = started_shop
    pipeline = acting_core.pipeline
    answer = await pipeline.answer(message("Wo ist mein Paket? Es ist noch nicht da.",
                                           channel="C2"))
    # Asked for the number, answered from the articles, or offered a person: never a
    # request with a number the customer did not write.
    assert answer.kind != "confirm" and sent(app) == []
    asked = await pipeline.answer(message("I want to cancel order 99120", channel="C3"))
    if asked.kind == "confirm":
        declined = await pipeline.confirm(message("", channel="C3"), asked.action_call, False)
        assert declined.kind == "action_declined"
        assert declined.text == pipeline.texts.get("action_declined", "en")
    assert sent(app) == []


async def test_a_failing_service_gets_the_apology_and_the_offer_of_a_person(
        write_config, engine, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    runner, base_url, _ = await shop.start(token=TOKEN)
    await runner.cleanup()  # the shop is down
    core = open_core(write_config(**shop_actions(base_url)), engine=engine)
    try:
        answer = await core.pipeline.answer(message("Where is my order 48213?"))
        assert answer.kind == "action_failed"
        assert answer.text.startswith(core.pipeline.texts.get("action_failed", "en"))
        (call,) = core.history.action_calls(message("").key)
        assert call.status == "failed" and "could not reach" in call.error
        # The bot goes on answering from the articles.
        after = await core.pipeline.answer(message("How do I reset my password?",
                                                   channel="C9"))
        assert after.kind == "answer"
    finally:
        core.close()
