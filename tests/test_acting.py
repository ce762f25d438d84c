"""Actions through the core: the example shop (examples/shop.py, started on 127.0.0.1)
answers, SQLite records each call. The embedded model chooses in the tests marked `model`;
the stand-in of engines.py, steered by the message's words, in the others."""

from __future__ import annotations

import pytest

from bot.core import open_core
from helpers import import_shop, message, shop_actions

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


@pytest.mark.model
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


@pytest.mark.model
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


@pytest.mark.model
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


@pytest.mark.model
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


@pytest.fixture
def scripted_core(write_config, scripted, started_shop):
    base_url, _ = started_shop
    core = open_core(write_config(**shop_actions(base_url)), engine=scripted, watch=False)
    yield core
    core.close()


async def test_a_missing_order_number_is_asked_for_in_the_customers_language(
        scripted_core, started_shop, scripted):
    _, app = started_shop
    pipeline = scripted_core.pipeline
    # The stand-in calls order_status without the number: babeldesk asks for it.
    answer = await pipeline.answer(message("Où est my order ? Je l'attends depuis une semaine "
                                           "et le colis n'est toujours pas arrivé."))
    assert scripted.choices[-1][1].name == "order_status"
    assert sent(app) == []
    assert answer.kind == "action_ask" and answer.language == "fr"
    assert answer.text.startswith(pipeline.texts.get("action_ask", "fr").split("{")[0])
    (call,) = scripted_core.history.action_calls(message("").key)
    assert call.status == "refused" and "order_id" in call.error


async def test_the_model_may_search_the_articles_again_in_its_own_words(scripted_core,
                                                                         scripted):
    # Near order_status (its examples), so the model is asked; it searches instead.
    answer = await scripted_core.pipeline.answer(message(
        "Where is my order? Please search for: track your parcel"))
    offered, call = scripted.choices[-1]
    assert "search_knowledge" in offered and call.name == "search_knowledge"
    assert answer.kind == "answer" and answer.sources
    assert scripted_core.history.action_calls(message("").key) == []


async def test_a_request_for_a_person_is_offered_one(scripted_core, scripted):
    answer = await scripted_core.pipeline.answer(message(
        "I want to talk to a human being, this is not working"))
    offered, call = scripted.choices[-1]
    assert "handoff" in offered and call.name == "handoff"
    assert answer.kind == "handoff_offered"
    assert answer.text == scripted_core.pipeline.texts.get("handoff", "en")
