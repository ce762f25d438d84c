"""Small talk: a greeting, thanks or "are you a bot?" gets a short friendly reply in the
customer's language, never "I couldn't find this in our help articles"."""

from __future__ import annotations

import asyncio

import pytest
from helpers import message

from bot.core import open_core
from bot.smalltalk import BOT, GREETING, THANKS, small_talk
from bot.texts import TEXTS


@pytest.mark.parametrize("text, kind, languages", [
    ("hi", GREETING, ()),
    ("Hola!", GREETING, ("es",)),
    ("danke!", THANKS, ("de",)),
    ("ok", THANKS, ()),
    ("👍", THANKS, ()),
    ("👍🏽", THANKS, ()),
    ("are you a bot?", BOT, ("en",)),
    ("Hi Kettlebird!", GREETING, ()),
    ("Спасибо большое!", THANKS, ("ru",)),
    ("ありがとうございます", THANKS, ("ja",)),
    ("धन्यवाद", THANKS, ("hi",)),
    ("สวัสดีครับ", GREETING, ("th",)),
    ("Bist du ein Bot?", BOT, ("de",)),
    ("你是机器人吗？", BOT, ("zh",)),
])
def test_a_message_that_is_only_small_talk_is_recognised(text, kind, languages):
    found = small_talk(text, "Kettlebird")
    assert found and found.kind == kind and found.languages == languages


@pytest.mark.parametrize("text", [
    "hi, how do I reset my password?", "thanks, but the kettle still blinks red",
    "ok so where is my parcel", "", "🔥", "Kettlebird", "bot",
])
def test_a_question_or_anything_more_is_not_small_talk(text):
    assert small_talk(text, "Kettlebird") is None


def test_every_shipped_language_has_the_replies():
    for language, texts in TEXTS.items():
        for key in (GREETING, THANKS, BOT):
            assert texts[key].strip(), (language, key)


@pytest.fixture
def scripted_core(config, scripted):
    core = open_core(config, engine=scripted)
    yield core
    core.close()


def test_small_talk_is_answered_in_the_customers_language_without_the_model(scripted_core,
                                                                            scripted):
    pipeline = scripted_core.pipeline

    def ask(text, channel):
        return asyncio.run(pipeline.answer(message(text, channel=channel)))

    # A greeting in Spanish as the first message is answered in Spanish.
    reply = ask("¡Hola!", "C-es")
    assert reply.kind == "small_talk" and reply.language == "es"
    assert reply.text == TEXTS["es"][GREETING] and not reply.abstained
    # "ok" and 👍 belong to every language: the conversation's holds.
    assert ask("👍", "C-es").text == TEXTS["es"][THANKS]
    assert ask("Merci beaucoup !", "C-fr").language == "fr"
    assert ask("are you a bot?", "C-en").text == TEXTS["en"][BOT]
    assert scripted.calls == []
    # Anything more is a question, retrieved and answered as one.
    reply = ask("Hola, ¿cuánto tarda el envío?", "C-es")
    assert reply.kind == "answer" and reply.language == "es" and len(scripted.calls) == 1
