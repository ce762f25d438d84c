from __future__ import annotations

import re
import sys

import pytest
import yaml

from bot.config import Config, load_config
from bot.glossary import names_in_headings
from bot.language import Detection, LanguageDetector, locale_language
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


def test_a_conversation_that_began_in_german_keeps_german(detector):
    for text in ("ok danke", "ok"):
        detection = detector.detect(text, prior="de")
        assert (detection.language, detection.reason) == ("de", "conversation"), text


def test_a_spanish_conversation_keeps_spanish_for_thanks(detector):
    # Alone, "gracias" is Spanish anyway; "ok" and "hello" alone come out Polish and Dutch.
    assert detector.detect("gracias", prior="es").language == "es"
    assert detector.detect("ok", prior="es").language == "es"


@pytest.mark.parametrize("locale, language", [
    ("de-DE", "de"), ("pt-BR", "pt"), ("es-419", "es"), ("zh-CN", "zh"), ("zh-TW", "zh"),
    ("en-US", "en"), ("fr", "fr"), ("pt_BR", "pt"), ("EN-gb", "en"), ("in-ID", "id"),
    ("sv-SE", None), ("nb-NO", None), ("", None), ("klingon", None),
])
def test_a_platform_locale_is_read_as_a_configured_language(locale, language):
    assert locale_language(locale, Config().languages) == language


def test_a_short_sentence_langdetect_is_sure_of_wins_over_the_locale_not_a_conversation(
        detector):
    """An English interface, a short question in Spanish ("Tienes dos libros." is Tatoeba's):
    the locale is a weaker prior than a conversation's language."""
    for text in ("Cómo pago esto?", "Tienes dos libros."):
        detection = detector.detect(text, locale="en")
        assert (detection.language, detection.reason) == ("es", "statistics"), text
        assert detector.detect(text, prior="en").language == "en", text
        assert detector.detect(text, prior="en", locale="es").language == "en", text
    # a fragment langdetect reads as Indonesian still follows the locale
    detection = detector.detect("ok danke", locale="de")
    assert (detection.language, detection.reason) == ("de", "conversation")
    assert detector.detect("ok danke", prior="en", locale="de").language == "en"
    assert detector.detect("ok danke", locale="sv").language == "en"  # not configured


def test_norwegian_bokmal_is_the_norwegian_langdetect_knows_when_configured():
    assert locale_language("nb-NO", ["en", "no"]) == "no"
    assert locale_language("nn", ["en", "no"]) == "no"
    assert locale_language("nb-NO", ["en", "sv"]) is None


def test_a_short_message_in_a_shared_script_keeps_the_conversation_language(detector):
    # No і/ї/є/ґ nor ы/э/ъ/ё: langdetect alone takes such short Ukrainian for Russian.
    assert detector.detect("Дякую, це добре", prior="uk").language == "uk"
    assert detector.detect("Спасибо, всё хорошо", prior="uk").language == "ru"
    # Han without kana: a Japanese word or two in a Japanese conversation, else Chinese.
    assert detector.detect("了解", prior="ja").language == "ja"
    assert detector.detect("我昨天下了订单，但是还没有收到确认邮件。", prior="ja").language == "zh"


@pytest.mark.parametrize("text, prior, language", [
    ("Ich habe gestern eine Bestellung aufgegeben, aber noch keine Bestätigung bekommen.",
     "en", "de"),
    ("Hola, hice un pedido ayer y todavía no he recibido la confirmación por correo.", "de",
     "es"),
    ("Je voudrais savoir où en est ma commande, elle n'est toujours pas arrivée.", "es", "fr"),
    ("I placed an order yesterday but I still have not received any confirmation.", "it",
     "en"),
])
def test_a_clear_long_message_in_a_new_language_switches(detector, text, prior, language):
    detection = detector.detect(text, prior=prior)
    assert (detection.language, detection.reason) == (language, "statistics")


@pytest.mark.parametrize("text, prior, language", [
    ("can you answer in French?", "en", "fr"),
    ("Could you reply in Spanish please", "de", "es"),
    ("in English please", "de", "en"),
    ("English?", "ja", "en"),
    ("¿Puedes responder en inglés?", "es", "en"),
    ("Español por favor", "en", "es"),
    ("auf Deutsch bitte", "en", "de"),
    ("Kannst du mir bitte auf Englisch antworten?", "de", "en"),
    ("réponds en espagnol", "fr", "es"),
    ("en français", "en", "fr"),
    ("Puoi rispondere in italiano?", "en", "it"),
    ("Pode responder em português, por favor?", "es", "pt"),
    ("Kun je in het Nederlands antwoorden?", "en", "nl"),
    ("Ответьте, пожалуйста, на английском", "ru", "en"),
    ("можешь ответить по-русски?", "en", "ru"),
    ("请用中文回答", "en", "zh"),
    ("日本語でお願いします", "en", "ja"),
    ("英語で答えてください", "ja", "en"),
    ("한국어로 답해 주세요", "en", "ko"),
    ("영어로 부탁해요", "ko", "en"),
    ("Hola, ¿me puedes responder en inglés? Tengo un problema con mi factura.", "es", "en"),
])
def test_an_explicit_request_for_a_language_is_honoured(detector, text, prior, language):
    detection = detector.detect(text, prior=prior)
    assert (detection.language, detection.reason) == (language, "request")
    assert detection.requested and detection.confident
    assert detector.requested_language(text) == language


@pytest.mark.parametrize("text", [
    "I live in France",
    "my French invoice",
    "My French invoice shows the wrong address, can you check it?",
    "I want to speak German with someone from sales.",
    "Tom can speak French.",
    "Please don't answer in French",
    "Do you ship to Germany?",
])
def test_a_language_named_in_passing_is_not_a_request(detector, text):
    assert detector.requested_language(text) is None
    detection = detector.detect(text, prior="en")
    assert (detection.language, detection.requested) == ("en", False)


def test_a_negated_request_is_not_a_request(detector):
    for text in ("Not in English please", "please don't reply in German", "英語で答えないで",
                 "不要用英文回答"):
        assert detector.requested_language(text) is None, text
    # A negation elsewhere in the message does not cancel the request.
    assert detector.requested_language("I'm not sure, but can you answer in English?") == "en"
    assert detector.requested_language("Reply in English, not in French") == "en"


@pytest.fixture(scope="module")
def el_ro_th():
    return LanguageDetector(["en", "fr", "el", "ro", "th"], "en")


@pytest.mark.parametrize("text, language", [
    ("Μπορείτε να απαντήσετε στα αγγλικά;", "en"),
    ("Απαντήστε μου στα ελληνικά, παρακαλώ", "el"),
    ("Στα ελληνικά παρακαλώ", "el"),
    ("Ελληνικά;", "el"),
    ("Μιλάτε ελληνικά;", "el"),
    ("Γράψε μου στα γαλλικά", "fr"),
    ("Can you answer in Greek?", "el"),
    ("Puteți să-mi răspundeți în engleză?", "en"),
    ("Răspundeți în română, vă rog", "ro"),
    ("În română, vă rog", "ro"),
    ("Vorbiți română?", "ro"),
    ("Treci la română", "ro"),
    ("réponds en roumain", "ro"),
    ("ช่วยตอบเป็นภาษาอังกฤษได้ไหม", "en"),
    ("คุณพูดภาษาไทยได้ไหมครับ", "th"),
    ("ขอเป็นภาษาไทยนะคะ", "th"),
    ("เปลี่ยนเป็นภาษาฝรั่งเศส", "fr"),
    ("in Thai please", "th"),
])
def test_a_request_in_greek_romanian_or_thai_is_honoured(el_ro_th, text, language):
    assert el_ro_th.requested_language(text) == language
    assert el_ro_th.detect(text, prior="en").reason == "request"


@pytest.mark.parametrize("text", [
    "Ζω στην Ελλάδα",
    "Μην απαντάτε στα αγγλικά παρακαλώ",
    "Θέλω να μιλήσω ελληνικά με κάποιον από τις πωλήσεις.",
    "Nu răspundeți în engleză, vă rog",
    "Vreau să vorbesc engleză cu cineva de la vânzări.",
    "Livrați în Thailanda?",
    "ส่งไปประเทศไทยได้ไหม",
    "อย่าตอบเป็นภาษาอังกฤษ",
    "พูดภาษาอังกฤษไม่เป็น",
    "อังกฤษได้ไหม",
])
def test_greek_romanian_or_thai_naming_a_language_in_passing_is_not_a_request(el_ro_th, text):
    assert el_ro_th.requested_language(text) is None


def test_greek_and_thai_script_choose_greek_and_thai_only_when_configured(el_ro_th):
    assert el_ro_th.detect("Πόσο κοστίζει η αποστολή;") == Detection("el", True, "script")
    assert el_ro_th.detect("จะติดตามพัสดุได้อย่างไร") == Detection("th", True, "script")
    assert el_ro_th.detect("Cum îmi resetez parola?").language == "ro"
    without = LanguageDetector(["en", "es"], "en")
    assert without.detect("Πόσο κοστίζει η αποστολή;").reason != "script"
    assert without.detect("จะติดตามพัสดุได้อย่างไร").reason != "script"


def test_a_request_names_only_a_configured_language():
    detector = LanguageDetector(["en", "es"], "en")
    assert detector.requested_language("réponds en français") is None
    assert detector.detect("in French please", prior="es").reason != "request"
    assert detector.detect("en español por favor", prior="en").reason == "request"


def test_an_unknown_second_detector_is_refused():
    with pytest.raises(ValueError, match="second language detector"):
        LanguageDetector(["en", "de"], "en", second_detector="fasttext")


def test_a_missing_lingua_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "lingua", None)  # as if it were not installed
    with pytest.raises(ImportError, match=re.escape("pip install babeldesk[lingua]")):
        LanguageDetector(["en", "de"], "en", second_detector="lingua")


def test_lingua_as_second_detector():
    pytest.importorskip("lingua")
    detector = LanguageDetector(["en", "de", "es", "it", "pt"], "en", second_detector="lingua")
    assert detector.detect("ok danke", prior="de").language == "de"
    assert detector.detect("can you answer in Spanish?", prior="de").reason == "request"
    # langdetect takes this Italian for Portuguese; lingua, asked before a switch, does not.
    text = "Tom sembra sicuro di sé."
    langdetect_alone = LanguageDetector(["en", "de", "es", "it", "pt"], "en")
    assert langdetect_alone.detect(text, prior="it").language == "pt"
    assert detector.detect(text, prior="it") == Detection("it", True, "lingua")
    detection = detector.detect(
        "Hola, hice un pedido ayer y todavía no he recibido la confirmación.", prior="de")
    assert detection.language == "es"


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


def test_platform_markup_is_stripped_by_its_adapter():
    from adapters.discord import plain_text as discord_text
    from adapters.slack import plain_text as slack_text

    slack = "<@U024BE7LH> hi <#C0G9QF9GZ|support> see <https://x.example/a|the docs> :wave:"
    assert normalise_message(slack_text(slack)) == "hi #support see the docs"
    discord = "<@!80351110224678912> <@&165511591545143296> help <:kettle:123456> <#1234>"
    assert normalise_message(discord_text(discord)) == "help"
    assert normalise_message(b"bad \xff bytes\x00\x07 here") == "bad \ufffd bytes here"


def test_cjk_text_is_split_into_searchable_pairs():
    assert search_terms("返金の申請") == ["返金", "金の", "の申", "申請"]
    assert search_terms("Réinitialiser") == ["reinit"]
    assert search_terms("Привет мир") == ["привет", "мир"]


# --- names, code and quotes are no words of the customer's language -------------------------

@pytest.fixture(scope="module")
def fdroid_detector():
    """Detection as babeldesk sets it up for an English FAQ about F-Droid: its product's name
    in the glossary, the names of its headings beside it."""
    headings = {"en": {"Why isn't F-Droid on Google Play?",
                       "Should I install new extensions in Tor Browser?",
                       "How can I send or setup the F-Droid app using NFC or Android Beam?",
                       "What is expert mode?"}}
    detector = LanguageDetector(Config().languages, "en", glossary=["F-Droid"])
    detector.use_names(names_in_headings(headings, Config().languages))
    return detector


def test_the_names_in_the_knowledges_headings_are_names_not_their_sentences():
    headings = {"en": {"Why isn't F-Droid on Google Play?", "Cancel Kettlebird Plus",
                       "Should I install new extensions in Tor Browser?",
                       "Reset Your Password In Three Steps", "Plus members ship free"},
                "de": {"Das Abo Kettlebird Plus", "Die App zeigt „Gerät offline“",
                       "Zwei-Faktor-Authentifizierung aktivieren"}}
    names = names_in_headings(headings, ["en", "de", "fr"])
    assert {"F-Droid", "Google Play", "Kettlebird Plus", "Tor Browser"} <= names
    # German nouns, a title's capitals and the first word of a heading are no names; nor is
    # "Plus" alone, which is French for "more".
    assert not names & {"App", "Gerät", "Abo", "Zwei-Faktor-Authentifizierung", "Your",
                        "Password", "Three", "Steps", "Reset", "Why", "Plus", "Das"}


@pytest.mark.parametrize("text, language", [
    ("我应该在 Tor Browser 中安装 NoScript 或 uBlock Origin 这样的新扩展程序吗？", "zh"),
    ("为什么 F-Droid 未在 Google Play 上架 ？", "zh"),
    ("如何使用 NFC 或 Android Beam 发送或设置 F-Droid 应用？", "zh"),
    ("Warum ist F-Droid nicht auf Google Play?", "de"),
    ("Sollte ich in Tor Browser neue Add-ons wie NoScript oder uBlock Origin installieren?",
     "de"),
    ("Perché F-Droid non è su Google Play?", "it"),
    ("F-Droid neden Google Play'de yok?", "tr"),
])
def test_a_question_full_of_english_names_is_in_its_own_language(fdroid_detector, text,
                                                                   language):
    assert fdroid_detector.detect(text).language == language


def test_a_glossary_term_from_the_config_is_skipped(tmp_path):
    (tmp_path / "knowledge").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"glossary": ["Secure Password Manager for Teams"]}))
    text = "Ich benutze Secure Password Manager for Teams auf dem Handy"
    assert LanguageDetector(Config().languages, "en").detect(text).language == "en"
    assert load_config(path).make_detector().detect(text).language == "de"
    # the product's name is in the glossary too
    assert "Kettlebird" in load_config(path).make_detector().glossary


@pytest.mark.parametrize("text, language", [
    ("Wie kann ich die Datei `config.yaml` unter /etc/babeldesk/ bearbeiten, "
     "siehe https://example.com/docs/setup.html?", "de"),
    ('Ao abrir o app aparece "Unable to connect to the server, please try again later" e '
     "não consigo entrar na minha conta.", "pt"),
    ("我的应用出现 \"fsck error in packed object\" 怎么处理？", "zh"),
    ("Come posso scrivere a support@example.com dal mio telefono?", "it"),
])
def test_code_links_files_and_quoted_errors_are_skipped(detector, text, language):
    assert detector.detect(text).language == language


def test_a_message_that_is_all_one_quote_or_all_names_keeps_its_words(detector):
    assert detector.strip_untranslated('"connection refused"') == '"connection refused"'
    assert detector.strip_untranslated("F-Droid NFC") == "F-Droid NFC"
    # a shouted message is no list of acronyms
    assert detector.strip_untranslated("WHERE IS MY PARCEL") == "WHERE IS MY PARCEL"


def test_a_short_cyrillic_question_is_russian_or_ukrainian_never_the_default(detector):
    assert detector.detect("Как настроение?").language == "ru"
    assert detector.detect("Сколько будет 17 умножить на 23?").language == "ru"
    assert detector.detect("Що таке експертний режим?").language == "uk"
    assert detector.detect("Як щодо пожертв?").language == "uk"


# --- languages babeldesk does not speak -------------------------------------------------------

@pytest.mark.parametrize("text, language", [
    ("Habari, ninawezaje kubadilisha nenosiri langu?", "sw"),
    ("Miten voin vaihtaa salasanani? Unohdin sen eilen.", "fi"),
    ("Jak mohu nahlásit chyby nebo požádat o funkci?", "cs"),
])
def test_a_message_in_an_unconfigured_language_is_said_to_be_one(detector, text, language):
    detection = detector.detect(text)
    assert (detection.language, detection.reason, detection.unconfigured) == (
        "en", "unconfigured", language)
    # in a conversation, its language stays
    assert detector.detect(text, prior="de").language == "de"


def test_a_script_no_configured_language_is_written_in_is_an_unconfigured_language(detector):
    detection = detector.detect("Πόσο κοστίζει η αποστολή;")
    assert (detection.language, detection.unconfigured) == ("en", "el")
    assert detector.detect("מתי תגיע החבילה שלי?").unconfigured == "he"
    assert detector.detect("مدل امنیتی‌ای که اف‌دروید به کار می‌برد چیست؟").unconfigured == "fa"
    assert detector.detect("كيف يمكنني إعادة تعيين كلمة المرور؟").language == "ar"


@pytest.mark.parametrize("text, language", [
    ("Dit is een waargebeurd verhaal.", "nl"),  # langdetect alone: Afrikaans
    ("Debes tratar de venir a la fiesta.", "es"),  # langdetect alone: Catalan
    ("Apakah saya bisa membayar dengan kartu kredit?", "id"),
    ("Nie mogę zalogować się do mojego konta od wczoraj.", "pl"),
])
def test_a_configured_language_is_not_taken_for_a_relative(detector, text, language):
    detection = detector.detect(text)
    assert (detection.language, detection.unconfigured) == (language, "")
