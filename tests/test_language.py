from __future__ import annotations

import pytest

from bot.config import Config
from bot.language import LanguageDetector
from bot.text import normalise_message, search_terms


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector(Config().languages, "en")


@pytest.mark.parametrize("text, language", [
    ("¿Cómo puedo restablecer mi contraseña?", "es"),
    ("Wie kann ich mein Passwort zurücksetzen?", "de"),
    ("Comment réinitialiser mon mot de passe ?", "fr"),
    ("Dove posso trovare la mia fattura?", "it"),
    ("Где моя посылка, я жду уже неделю?", "ru"),
    ("パスワードを忘れました", "ja"),
    ("我的订单在哪里", "zh"),
    ("비밀번호를 잊어버렸어요", "ko"),
])
def test_detects_the_language_of_a_real_question(detector, text, language):
    detection = detector.detect(text)
    assert detection.language == language
    assert detection.confident


@pytest.mark.parametrize("text", ["hello", "ok", "refund pls", "I can't login", "thanks!", "👍"])
def test_a_short_message_keeps_the_conversation_language(detector, text):
    assert detector.detect(text, prior="es").language == "es"
    assert detector.detect(text, prior="es").reason == "conversation"
    assert detector.detect(text).language == "en"
    assert detector.detect(text).reason == "default"


def test_a_clear_message_switches_language(detector):
    assert detector.detect("Could you please answer me in English from now on?",
                           prior="es").language == "en"


def test_detection_is_restricted_to_the_configured_languages():
    detector = LanguageDetector(["en", "es"], "en")
    # Portuguese is not configured: the closest configured language wins.
    detection = detector.detect("Onde está a minha encomenda? Já passou uma semana inteira.")
    assert detection.language in ("es", "en")
    assert set(detector.probabilities("Bonjour, où est mon colis ?")) <= {"en", "es"}


def test_the_same_text_always_gets_the_same_answer():
    texts = ["Ciao, come stai oggi amico mio?", "Hola amigo, ¿qué tal estás hoy?"]
    first = [LanguageDetector(Config().languages, "en").probabilities(t) for t in texts]
    second = [LanguageDetector(Config().languages, "en").probabilities(t) for t in texts]
    assert first == second


def test_platform_markup_is_stripped():
    slack = "<@U024BE7LH> hi <#C0G9QF9GZ|support> see <https://x.example/a|the docs> :wave:"
    assert normalise_message(slack) == "hi #support see the docs"
    discord = "<@!80351110224678912> <@&165511591545143296> help <:kettle:123456> <#1234>"
    assert normalise_message(discord) == "help"
    assert normalise_message(b"bad \xff bytes\x00\x07 here") == "bad \ufffd bytes here"


def test_cjk_text_is_split_into_searchable_pairs():
    assert search_terms("返金の申請") == ["返金", "金の", "の申", "申請"]
    assert search_terms("Réinitialiser") == ["reinit"]
    assert search_terms("Привет мир") == ["привет", "мир"]
