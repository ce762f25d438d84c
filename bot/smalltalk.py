"""Small talk: "hi", "hola", "danke!", "ok", "👍", "are you a bot?".

A customer who greets the bot, thanks it or asks whether it is a person has asked nothing the
help centre answers; "I couldn't find this in our help articles" would be the wrong reply. A
message that is nothing but one of these phrases (in any of the shipped languages, accents and
punctuation aside) gets a short friendly reply in the customer's language instead, with an
offer to help. A message with anything more ("hi, how do I reset my password?") is a question.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: the kinds of small talk, each answered by the canned text of the same name
GREETING, THANKS, BOT = "greeting_reply", "thanks_reply", "bot_reply"

#: phrases as `fold` leaves them, by kind and language
PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    GREETING: {
        "en": ("hi", "hello", "hey", "hi there", "hello there", "hey there", "good morning",
               "good afternoon", "good evening", "howdy", "greetings"),
        "es": ("hola", "buenas", "buenos dias", "buenas tardes", "buenas noches", "hola buenas"),
        "fr": ("bonjour", "salut", "bonsoir", "coucou", "allo"),
        "de": ("hallo", "guten tag", "guten morgen", "guten abend", "servus", "moin",
               "gruss gott", "hallo zusammen"),
        "it": ("ciao", "buongiorno", "buonasera", "salve"),
        "pt": ("ola", "oi", "bom dia", "boa tarde", "boa noite"),
        "nl": ("hallo", "hoi", "goedemorgen", "goedemiddag", "goedenavond", "dag"),
        "pl": ("czesc", "dzien dobry", "witam", "hej", "dobry wieczor"),
        "ru": ("привет", "здравствуите", "здравствуи", "добрыи день", "доброе утро",
               "добрыи вечер"),
        "uk": ("привіт", "вітаю", "добрии день", "доброго дня", "доброго ранку"),
        "tr": ("merhaba", "selam", "iyi gunler", "gunaydın", "iyi aksamlar"),
        "ar": ("مرحبا", "السلام عليكم", "اهلا", "صباح الخير", "مساء الخير"),
        "hi": ("नमसत", "नमसकार", "हलो"),
        "ja": ("こんにちは", "こんはんは", "おはよう", "おはようこさいます", "はしめまして"),
        "ko": ("안녕하세요", "안녕"),
        "zh": ("你好", "您好", "嗨", "早上好", "晚上好", "大家好"),
        "vi": ("xin chao", "chao", "chao ban"),
        "id": ("halo", "hai", "selamat pagi", "selamat siang", "selamat sore", "selamat malam"),
        "sv": ("hej", "hejsan", "halla", "god morgon", "god dag", "tjena"),
        "he": ("שלום", "היי", "בוקר טוב", "ערב טוב"),
        "el": ("γεια", "γεια σας", "γεια σου", "καλημερα", "καλησπερα"),
        "ro": ("buna", "buna ziua", "salut", "neata", "buna dimineata", "buna seara"),
        "th": ("สวสด", "สวสดครบ", "สวสดคะ", "หวดด"),
    },
    THANKS: {
        "en": ("thanks", "thank you", "thx", "ty", "thanks a lot", "thank you so much",
               "many thanks", "cheers", "ok", "okay", "ok thanks", "got it", "great", "perfect",
               "great thanks", "perfect thanks", "cool", "awesome", "nice"),
        "es": ("gracias", "muchas gracias", "mil gracias", "vale", "vale gracias", "perfecto",
               "genial", "de acuerdo", "entendido"),
        "fr": ("merci", "merci beaucoup", "merci bien", "super merci", "parfait", "d accord",
               "parfait merci"),
        "de": ("danke", "danke schon", "dankeschon", "vielen dank", "besten dank",
               "super danke", "alles klar", "perfekt", "super"),
        "it": ("grazie", "grazie mille", "molte grazie", "perfetto", "va bene", "ottimo"),
        "pt": ("obrigado", "obrigada", "muito obrigado", "muito obrigada", "valeu", "perfeito",
               "beleza"),
        "nl": ("dank je", "dank u", "bedankt", "dank je wel", "dank u wel", "hartelijk dank",
               "prima", "top"),
        "pl": ("dziekuje", "dzieki", "dziekuje bardzo", "super", "swietnie"),
        "ru": ("спасибо", "спасибо большое", "большое спасибо", "благодарю", "понятно", "отлично"),
        "uk": ("дякую", "дякую вам", "щиро дякую", "спасибі", "зрозуміло", "чудово"),
        "tr": ("tesekkurler", "tesekkur ederim", "sag ol", "sagol", "cok tesekkurler", "tamam"),
        "ar": ("شكرا", "شكرا جزيلا", "تمام"),
        "hi": ("धनयवाद", "शकरिया", "थकस"),
        "ja": ("ありかとう", "ありかとうこさいます", "とうもありかとう", "とうも", "了解"),
        "ko": ("감사합니다", "고맙습니다", "고마워요", "고마워"),
        "zh": ("谢谢", "谢谢你", "多谢", "非常感谢", "感谢", "好的"),
        "vi": ("cam on", "cam on ban", "cam on nhieu"),
        "id": ("terima kasih", "makasih", "trims", "terima kasih banyak", "oke"),
        "sv": ("tack", "tack sa mycket", "tusen tack", "tackar"),
        "he": ("תודה", "תודה רבה"),
        "el": ("ευχαριστω", "ευχαριστω πολυ"),
        "ro": ("multumesc", "mersi", "multumesc mult"),
        "th": ("ขอบคณ", "ขอบคณครบ", "ขอบคณคะ", "ขอบใจ"),
    },
    BOT: {
        "en": ("are you a bot", "are you a robot", "are you human", "are you a human",
               "are you real", "are you an ai", "is this a bot", "am i talking to a bot",
               "am i talking to a human", "are you a person"),
        "es": ("eres un bot", "eres un robot", "eres humano", "eres una persona",
               "estoy hablando con un bot"),
        "fr": ("tu es un bot", "tu es un robot", "es tu un robot", "es tu un bot",
               "vous etes un robot", "etes vous un robot", "es tu humain", "etes vous humain"),
        "de": ("bist du ein bot", "bist du ein roboter", "bist du ein mensch",
               "sind sie ein bot", "sind sie ein mensch"),
        "it": ("sei un bot", "sei un robot", "sei umano", "sei una persona"),
        "pt": ("voce e um bot", "voce e um robo", "voce e humano", "e um bot"),
        "nl": ("ben je een bot", "ben jij een bot", "ben je een robot", "ben je een mens"),
        "pl": ("czy jestes botem", "jestes botem", "czy jestes czlowiekiem"),
        "ru": ("ты бот", "вы бот", "ты робот", "вы робот", "ты человек", "вы человек"),
        "uk": ("ти бот", "ви бот", "ти робот", "ти людина"),
        "tr": ("bot musun", "sen bot musun", "robot musun", "insan mısın"),
        "ja": ("ホットてすか", "あなたはホットてすか", "ロホットてすか"),
        "ko": ("봇이에요", "봇인가요", "로봇이에요"),
        "zh": ("你是机器人吗", "你是人吗", "你是机器人"),
        "id": ("apakah kamu bot", "kamu bot", "kamu robot"),
    },
}

#: emoji that thank or agree, alone in a message
_THANKS_EMOJI = frozenset("👍👌🙏❤🙂😊👏🤝💯✅")
_NOT_WORD = re.compile(r"[^\w]+")


@dataclass(frozen=True)
class SmallTalk:
    #: GREETING, THANKS or BOT: the canned text that answers it
    kind: str
    #: the languages the phrase belongs to; empty for one of every language ("ok", 👍)
    languages: tuple[str, ...]


def fold(text: str) -> str:
    """Lower case, without accents, marks or punctuation, words single-spaced."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.category(ch).startswith("M"))
    return " ".join(_NOT_WORD.sub(" ", bare).split())


def _index() -> dict[str, tuple[str, list[str]]]:
    found: dict[str, tuple[str, list[str]]] = {}
    for kind, by_language in PHRASES.items():
        for language, phrases in by_language.items():
            for phrase in phrases:
                found.setdefault(fold(phrase), (kind, []))[1].append(language)
    return found


_PHRASES = _index()
#: phrases every language uses: their language is the conversation's
_EVERYWHERE = frozenset({"ok", "okay", "super", "top", "hi", "hallo", "hello", "salut"})


def small_talk(text: str, product: str = "") -> SmallTalk | None:
    """The small talk that `text` is and nothing more, or None (a question, or empty)."""
    # (variation selectors, joiners and skin tones change no emoji's meaning)
    stripped = "".join(ch for ch in text if ch not in "\ufe0f\u200d"
                       and not "\U0001f3fb" <= ch <= "\U0001f3ff").strip()
    if stripped and all(ch in _THANKS_EMOJI or ch.isspace() for ch in stripped):
        return SmallTalk(THANKS, ())
    words = fold(text).split()
    phrase = " ".join(words)
    # "Hi Kettlebird!", "thanks babeldesk", "danke 🙂": the name and emoji add nothing.
    names = set(fold(product).split()) | {"babeldesk", "bot"}
    while phrase not in _PHRASES and len(words) > 1 and words[-1] in names:
        words.pop()
        phrase = " ".join(words)
    if phrase not in _PHRASES:
        return None
    kind, languages = _PHRASES[phrase]
    return SmallTalk(kind, () if phrase in _EVERYWHERE else tuple(dict.fromkeys(languages)))
