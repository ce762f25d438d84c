"""Which language a message is in, or asks to be answered in.

Order of evidence, strongest first:

0. what is written in no language is left out first: names, code, links, file names, quoted
   error messages (bot/glossary.py): "Warum ist F-Droid nicht auf Google Play?" is German;
1. an explicit request ("can you answer in French?", "auf Deutsch bitte", "请用中文回答"):
   the user has said what they want, whatever language they wrote it in;
2. a script that leaves one configured language (kana, hangul, Hebrew, Devanagari …), or a
   letter or a common word that only one of them uses (Ukrainian "що", Russian "что");
   a script that no configured language uses is a language babeldesk does not speak;
3. a message that langdetect, among all the languages it knows, is sure is in a language that
   is not configured (Swahili, Finnish): babeldesk answers in the conversation's or the default
   language and says which languages it speaks, rather than guess the nearest configured one
   (Swahili read as Indonesian);
4. statistics (langdetect, restricted to the configured languages), with the conversation's
   language as a prior: a short or uncertain message keeps the conversation's language,
   because langdetect is unreliable on short chat ("hello" comes out Dutch, "ok" Polish);
   before the first answer, the language of the author's platform locale stands in for it
   (`locale_language`: Slack's user locale, Discord's interaction locale), more weakly: a short
   sentence langdetect is sure of wins over it, as it does without one;
5. optionally a second detector (lingua) where langdetect is unsure or would switch;
6. the conversation's language (or, in a script that several configured languages share, the
   likelier of them), else the configured default.

The thresholds were tuned on Tatoeba (bench/language.py): with the conversation's language as
the prior, sentences of at most 20 characters keep it (≥ 0.99), while a sentence of over 40
characters in another language still switches (≥ 0.95).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

from langdetect import DetectorFactory
from langdetect.detector_factory import init_factory
from langdetect.lang_detect_exception import LangDetectException

from .glossary import Glossary, strip_code_and_addresses, strip_untranslated

log = logging.getLogger(__name__)

#: below this many letters, or this many words, a message is too short to judge by itself
SHORT_LETTERS = 15
SHORT_WORDS = 3
#: Leaving the conversation's language takes a letter more than choosing a first one. A wrong
#: switch breaks a conversation that was going well; a wrong first message only replaces the
#: default language, itself a guess. On Tatoeba, langdetect's confident mistakes at exactly
#: 15 letters (Italian "Tom sembra felice." read as Portuguese) cost 0.7 % of the short
#: messages with their conversation's language; 17 would keep even more, but then a 20-40
#: character message in a new language no longer switches reliably.
SWITCH_LETTERS = 16
#: langdetect's probability needed to trust its answer. Its probability is the share of 7
#: random trials that agreed, so 0.80 means 6 of 7: fewer let a split vote flip the language.
MIN_CONFIDENCE = 0.80
#: how much likelier the conversation's language is than any other before reading a message.
#: langdetect samples n-grams until one language passes 0.99999, so the prior only tips
#: messages whose n-grams are ambiguous; on Tatoeba 100 kept a few more short messages in
#: their conversation's language without costing switches (1 000 hardly differs).
PRIOR_WEIGHT = 100.0
#: the same for the second detector, whose confidences spread over similar languages rather
#: than saturate: 3 kept 99.9 % of short messages in their conversation's language on Tatoeba;
#: 10 keeps them all but lets a wrong prior win over a clear 21-40 character message 3 % of
#: the time. The second detector never judges messages below the letters and words above:
#: lingua reads chat fragments wildly ("ok" Polish, "lol" Indonesian, "hello" Italian).
SECOND_PRIOR_WEIGHT = 3.0
#: A message is taken for a language that is not configured from this many letters on, when
#: langdetect, free to choose among all its 55 languages, gives that language at least
#: UNCONFIGURED_CONFIDENCE. Shorter messages and weaker votes keep the configured languages:
#: answering a Spanish customer in the default language costs more than answering a Catalan
#: one in Spanish. Measured by bench/question_language.py.
UNCONFIGURED_LETTERS = 20
UNCONFIGURED_CONFIDENCE = 0.99
#: A short first message that is a sentence, not a chat fragment ("ok", "refund pls"), is
#: judged after all: one short only once its names are left out ("Perchè F-Droid non è su
#: Google Play?" reads "Perchè non è su ?"), or a question of QUESTION_WORDS words and
#: QUESTION_LETTERS letters ("Uzman modu nedir?", "A co z wersjami?"). langdetect's answer
#: is taken when all 7 of its trials agree: 0.91 right on Tatoeba's questions of 10-14
#: letters, where the default language is right only for those in it. Else the default.
SENTENCE_CONFIDENCE = 0.99
QUESTION_LETTERS = 10
QUESTION_WORDS = 3
#: Unconfigured languages whose speakers read a configured one: a message in them is answered
#: in that one, as langdetect restricted to the configured languages finds it. langdetect also
#: takes a good share of Dutch for Afrikaans and of Spanish and Portuguese for Catalan, sure
#: of it (Tatoeba: 14 of 300 Dutch sentences).
_RELATIVES = {"af": ("nl",), "ca": ("es", "fr", "it", "pt"), "da": ("sv", "no"),
              "no": ("sv", "da")}
#: marks that only one language writes: Spanish opens its questions and exclamations
_MARKS = {"¿": "es", "¡": "es"}
#: second detectors babeldesk knows (constructor keyword `second_detector`)
SECOND_DETECTORS = ("lingua",)
#: locale languages that langdetect, and so the configuration, names otherwise: Norwegian
#: Bokmål and Nynorsk are its "no"; Java's old codes for Hebrew and Indonesian
_LOCALE_ALIASES = {"nb": "no", "nn": "no", "iw": "he", "in": "id"}


@dataclass(frozen=True)
class Detection:
    language: str
    #: whether the text itself showed the language, rather than the prior or the default
    confident: bool
    #: how it was decided: request (the user asked for the language), script, statistics
    #: (langdetect), lingua (the second detector), conversation (kept the prior), default,
    #: unconfigured (written in a language babeldesk does not speak: `language` is the
    #: conversation's or the default one)
    reason: str
    #: the language the message is written in when babeldesk does not speak it ("sw", "fi")
    unconfigured: str = ""

    @property
    def requested(self) -> bool:
        """The user asked for this language ("in English please"); it was not detected."""
        return self.reason == "request"


#: Unicode ranges of the scripts that narrow a text's language down
_SCRIPTS = (
    ("kana", 0x3040, 0x30FF), ("kana", 0x31F0, 0x31FF), ("hangul", 0xAC00, 0xD7AF),
    ("hangul", 0x1100, 0x11FF), ("han", 0x4E00, 0x9FFF), ("han", 0x3400, 0x4DBF),
    ("arabic", 0x0600, 0x06FF), ("hebrew", 0x0590, 0x05FF), ("devanagari", 0x0900, 0x097F),
    ("thai", 0x0E00, 0x0E7F), ("greek", 0x0370, 0x03FF), ("cyrillic", 0x0400, 0x04FF),
    ("bengali", 0x0980, 0x09FF), ("tamil", 0x0B80, 0x0BFF), ("georgian", 0x10A0, 0x10FF),
    ("armenian", 0x0530, 0x058F), ("greek", 0x1F00, 0x1FFF),
)
#: languages (langdetect's) written in each script; Latin is everything else
_SCRIPT_LANGUAGES = {
    "kana": ("ja",), "hangul": ("ko",), "han": ("zh", "ja"), "arabic": ("ar", "fa", "ur"),
    "hebrew": ("he",), "devanagari": ("hi", "mr", "ne"), "thai": ("th",), "greek": ("el",),
    "cyrillic": ("ru", "uk", "bg", "mk"), "bengali": ("bn",), "tamil": ("ta",),
    "georgian": ("ka",), "armenian": ("hy",),
}
#: letters only one Cyrillic language among Russian and Ukrainian uses
_UKRAINIAN_ONLY = set("іїєґІЇЄҐ")
_RUSSIAN_ONLY = set("ыэъёЫЭЪЁ")
#: common words only one of them uses, for a message without those letters ("Що таке
#: експертний режим?", "Сколько будет 17 умножить на 23?"), which langdetect often confuses
_UKRAINIAN_WORDS = frozenset(
    "що як чи це цей ця ці цього або також вже ось тепер зараз дуже коли де чому хто який яка"
    " яке яких можна треба потрібно немає мене мого моє моєму вона вони воно ми ви ти"
    " його замовлення дякую ласка отримати можу".split())
_RUSSIAN_WORDS = frozenset(
    "что как это этот эта или если меня мне мой моё моего можно нужно надо сколько какой"
    " какая какое какие почему где когда кто нет есть только тоже ещё еще очень пожалуйста"
    " спасибо здравствуйте привет он она они вы ты его её после заказ получить могу"
    " сделать".split()) - _UKRAINIAN_WORDS
#: letters of the Arabic script that Urdu and Persian write and Arabic does not (their yeh
#: and keheh are other code points than Arabic's ي and ك); Urdu's own first, as it shares
#: Persian's
_ARABIC_SCRIPT_LETTERS = {"ur": set("ٹڈڑںےھہ"), "fa": set("پچژگیک")}
#: and those only Arabic writes: Arabic typed with a few Persian letters has them too
_ARABIC_ONLY = set("يكة")
#: In a script several configured languages share, with no letter telling them apart, the
#: conversation's language wins up to this many letters. langdetect takes about half of the
#: short Ukrainian sentences without і/ї/є/ґ for Russian, even with Ukrainian as the prior; a
#: Japanese message without kana is a word or two ("本当？", "了解"), longer is Chinese.
_SHARED_SCRIPT_LETTERS = {"cyrillic": 30, "han": 3}


def _script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {"letters": 0}
    for ch in text:
        code = ord(ch)
        category = unicodedata.category(ch)
        if category[0] not in "LM":
            continue
        if category[0] == "L":
            counts["letters"] += 1
        for name, low, high in _SCRIPTS:
            if low <= code <= high:
                counts[name] = counts.get(name, 0) + 1
                break
    return counts


# -- explicit requests: "can you answer in French?" --------------------------------------------

#: Each language's name in the languages babeldesk ships, accents removed (as _fold does), as
#: regular-expression pieces separated by commas; "*" ends a stem that takes any ending
#: (по-английски, на английском, po angielsku, англійською).
_LANGUAGE_NAMES = {
    "en": "english, ingles, inglese, anglais, englisch, engels, angielsk*, английск*, англійськ*,"
          " ingilizce, tieng anh, bahasa inggris, inggris, engelska, 英语, 英文, 英語, 영어,"
          " الإنجليزية, الانجليزية, بالإنجليزية, بالانجليزية, انجليزي, अंग्रेज़ी, अंग्रेजी,"
          " ב?אנגלית,"
          " αγγλικ*, englez*, ภาษาอังกฤษ, อังกฤษ",
    "es": "spanish, espanol, castellano, espagnol, spanisch, spaans, spagnolo, espanhol,"
          " hiszpansk*, испанск*, іспанськ*, ispanyolca, tieng tay ban nha, bahasa spanyol,"
          " spanska, 西班牙语, 西班牙文, 西班牙語, スペイン語, 스페인어, الإسبانية, الاسبانية,"
          " بالإسبانية, स्पेनिश, ב?ספרדית,"
          " ισπανικ*, spaniol*, ภาษาสเปน, สเปน",
    "fr": "french, frances, francais, franzosisch, frans, francese, francusk*, французск*,"
          " французьк*, fransizca, tieng phap, bahasa perancis, franska, 法语, 法文, 法語,"
          " フランス語, 프랑스어, الفرنسية, بالفرنسية, फ्रेंच, फ़्रेंच, ב?צרפתית,"
          " γαλλικ*, francez*, frantuzeste, ภาษาฝรั่งเศส, ฝรั่งเศส",
    "de": "german, aleman, allemand, deutsch, duits, tedesco, alemao, niemieck*, немецк*,"
          " німецьк*, almanca, tieng duc, bahasa jerman, tyska, 德语, 德文, 德語, ドイツ語, 독일어,"
          " الألمانية, الالمانية, بالألمانية, जर्मन, ב?גרמנית,"
          " γερμανικ*, germana, nemteste, ภาษาเยอรมัน, เยอรมัน",
    "it": "italian, italiano, italien, italienisch, italiaans, wlosk*, итальянск*, італійськ*,"
          " italyanca, tieng y, bahasa italia, italienska, 意大利语, 意大利文, 義大利語, 意大利語,"
          " イタリア語, 이탈리아어, الإيطالية, بالإيطالية, इतालवी, ב?איטלקית,"
          " ιταλικ*, italiana, italieneste, ภาษาอิตาลี, อิตาลี, ภาษาอิตาเลียน",
    "pt": "portuguese, portugues, portugais, portugiesisch, portugees, portoghese, portugalsk*,"
          " португальск*, португальськ*, portekizce, tieng bo dao nha, bahasa portugis,"
          " portugisiska, 葡萄牙语, 葡萄牙文, 葡萄牙語, ポルトガル語, 포르투갈어, البرتغالية,"
          " بالبرتغالية, पुर्तगाली, ב?פורטוגזית,"
          " πορτογαλικ*, portughez*, ภาษาโปรตุเกส, โปรตุเกส",
    "nl": "dutch, neerlandes, holandes, neerlandais, hollandais, niederlandisch, hollandisch,"
          " nederlands, hollands, olandese, neerlandese, holendersk*, niderlandzk*, нидерландск*,"
          " голландск*, нідерландськ*, голландськ*, felemenkce, hollandaca, tieng ha lan,"
          " bahasa belanda, nederlandska, 荷兰语, 荷蘭語, 荷兰文, オランダ語, 네덜란드어,"
          " الهولندية, بالهولندية, डच, ב?הולנדית,"
          " ολλανδικ*, olandez*, neerlandez*, ภาษาดัตช์, ดัตช์, ภาษาเนเธอร์แลนด์, ภาษาฮอลแลนด์",
    "pl": "polish, polaco, polonais, polnisch, pools, polacco, polones, polsk*, польск*, польськ*,"
          " lehce, tieng ba lan, bahasa polandia, 波兰语, 波蘭語, ポーランド語, 폴란드어,"
          " البولندية, بالبولندية, पोलिश, ב?פולנית,"
          " πολωνικ*, polonez*, poloneste, ภาษาโปแลนด์, โปแลนด์",
    "ru": "russian, ruso, russe, russisch, russo, rosyjsk*, русск*, російськ*, rusca, tieng nga,"
          " bahasa rusia, ryska, 俄语, 俄文, 俄語, ロシア語, 러시아어, الروسية, بالروسية, रूसी,"
          " ב?רוסית,"
          " ρωσικ*, rusa, ruseste, ภาษารัสเซีย, รัสเซีย",
    "uk": "ukrainian, ucraniano, ukrainien, ukrainisch, oekraiens, ucraino, ukrainsk*,"
          " украинск*, українськ*, ukraynaca, tieng ukraina, bahasa ukraina, ukrainska,"
          " 乌克兰语, 烏克蘭語, ウクライナ語, 우크라이나어, الأوكرانية, بالأوكرانية, यूक्रेनी,"
          " ב?אוקראינית,"
          " ουκρανικ*, ucrainean*, ucraineste, ภาษายูเครน, ยูเครน",
    "tr": "turkish, turco, turc, turkisch, turks, tureck*, турецк*, турецьк*, turkce,"
          " tieng tho nhi ky, bahasa turki, turkiska, 土耳其语, 土耳其語, トルコ語, 터키어, التركية, بالتركية, तुर्की,"
          " ב?טורקית,"
          " τουρκικ*, turca, turceste, ภาษาตุรกี, ตุรกี",
    "ar": "arabic, arabe, arabisch, arabo, arabsk*, арабск*, арабськ*, arapca, tieng a rap,"
          " bahasa arab, arabiska, 阿拉伯语, 阿拉伯語, アラビア語, 아랍어, العربية, بالعربية,"
          " بالعربي, عربي, अरबी, ב?ערבית,"
          " αραβικ*, arabeste, limba araba, ภาษาอาหรับ, อาหรับ",
    "he": "hebrew, hebreo, hebreu, hebraisch, hebreeuws, ebraico, hebrajsk*, иврит*, іврит*,"
          " ibranice, tieng do thai, bahasa ibrani, hebreiska, 希伯来语, 希伯來語, ヘブライ語,"
          " 히브리어, العبرية, بالعبرية, हिब्रू, ב?עברית,"
          " εβραικ*, ebraic*, ภาษาฮีบรู, ฮีบรู",
    "hi": "hindi, hintce, хинди, гінді, 印地语, 印地語, ヒンディー語, 힌디어, الهندية, بالهندية,"
          " हिंदी, हिन्दी, ב?הינדי,"
          " χιντι, ภาษาฮินดี, ฮินดี",
    "ja": "japanese, japones, japonais, japanisch, japans, giapponese, japonsk*, японск*,"
          " японськ*, japonca, tieng nhat, bahasa jepang, japanska, 日语, 日文, 日語, 日本語,"
          " 일본어, اليابانية, باليابانية, जापानी, ב?יפנית,"
          " ιαπωνικ*, japonez*, ภาษาญี่ปุ่น, ญี่ปุ่น",
    "ko": "korean, coreano, coreen, koreanisch, koreaans, korean*, koreansk*, корейск*,"
          " корейськ*, korece, tieng han, bahasa korea, koreanska, 韩语, 韩文, 韓語, 韓文,"
          " 朝鲜语, 韓国語, 한국어, 한국말, 한글, الكورية, بالكورية, कोरियाई, ב?קוריאנית,"
          " κορεατικ*, coreean*, ภาษาเกาหลี, เกาหลี",
    "zh": "chinese, chino, chinois, chinesisch, chinees, cinese, chines, chinsk*, китайск*,"
          " китайськ*, cince, tieng trung, tieng hoa, bahasa mandarin, bahasa tionghoa, mandarin,"
          " kinesiska, 中文, 汉语, 漢語, 华语, 華語, 普通话, 普通話, 国语, 國語, 中国語, 중국어,"
          " الصينية, بالصينية, चीनी, ב?סינית,"
          " κινεζικ*, chinez*, ภาษาจีนกลาง, ภาษาจีน, จีน",
    "vi": "vietnamese, vietnamita, vietnamien, vietnamesisch, vietnamees, wietnamsk*,"
          " вьетнамск*, в'єтнамськ*, vietnamca, tieng viet, bahasa vietnam, vietnamesiska,"
          " 越南语, 越南語, ベトナム語, 베트남어, الفيتنامية, بالفيتنامية, वियतनामी, ב?וייטנאמית,"
          " βιετναμεζικ*, βιετναμικ*, vietnamez*, ภาษาเวียดนาม, เวียดนาม",
    "id": "indonesian, indonesio, indonesien, indonesisch, indonesiano, indonezyjsk*,"
          " индонезийск*, індонезійськ*, endonezce, bahasa indonesia, indonesiska, 印尼语,"
          " 印度尼西亚语, 印尼語, インドネシア語, 인도네시아어, الإندونيسية, بالإندونيسية,"
          " इंडोनेशियाई, ב?אינדונזית,"
          " ινδονησιακ*, indonezian*, ภาษาอินโดนีเซีย, อินโดนีเซีย, ภาษาอินโด",
    "sv": "swedish, sueco, suedois, schwedisch, zweeds, svedese, szwedzk*, шведск*, шведськ*,"
          " isvecce, tieng thuy dien, bahasa swedia, svenska, 瑞典语, 瑞典語, スウェーデン語,"
          " 스웨덴어, السويدية, بالسويدية, स्वीडिश, ב?שוודית,"
          " σουηδικ*, suedez*, ภาษาสวีเดน, สวีเดน",
    "el": "greek, griego, grec, griechisch, grieks, greco, grego, greck*, греческ*, грецьк*,"
          " yunanca, tieng hy lap, bahasa yunani, grekiska, 希腊语, 希腊文, 希臘語, ギリシャ語,"
          " ギリシア語, 그리스어, اليونانية, باليونانية, यूनानी, ग्रीक, ב?יוונית, ελληνικ*, greaca,"
          " greceste, ภาษากรีก, กรีก",
    "ro": "romanian, rumano, rumeno, roumain, rumanisch, roemeens, romeno, rumunsk*, румынск*,"
          " румунськ*, rumence, tieng romania, tieng rumani, bahasa rumania, rumanska,"
          " 罗马尼亚语, 羅馬尼亞語, ルーマニア語, 루마니아어, الرومانية, بالرومانية, रोमानियाई,"
          " ב?רומנית, ρουμανικ*, romana, romaneste, ภาษาโรมาเนีย, โรมาเนีย",
    "th": "thai, tailandes, thailandais, thailandisch, thais, tailandese, thailandese, tajsk*,"
          " тайск*, тайськ*, tayca, tieng thai, bahasa thai, thailandska, 泰语, 泰文, 泰語,"
          " タイ語, 태국어, التايلاندية, بالتايلاندية, التايلندية, थाई, ב?תאית, ב?תאילנדית,"
          " ταιλανδικ*, ταιλανδεζικ*, thailandez*, ภาษาไทย, ไทย",
}

#: verbs asking for an answer, imperative or infinitive (answer, reply, speak, write, switch …)
_VERBS = (
    r"answer|reply|respond|write|speak|talk|continue|switch|change|chat|type|translate|go on"
    r"|responde\w*|contesta\w*|habla|hablar|hablame|hablanos|escribe|escribir|escribeme|sigue"
    r"|seguir|cambia|cambiar|continua|continuar|traduce|reponds|repondez|repondre|parle|parlez"
    r"|parler|ecris|ecrivez|ecrire|continuez|continuer|passe|passez|passer|traduis|traduisez"
    r"|antworte|antworten|antwortet|schreib|schreibe|schreiben|sprich|sprechen|sprecht|rede"
    r"|reden|wechsle|wechsel|wechseln|rispondi\w*|risponda|rispondere|parla|parlare|parlami"
    r"|scrivi\w*|scrivere|continuare|passa|passare|traduci|responda|fala|fale|falar|escreve|escreva"
    r"|escrever|muda|mude|mudar|traduz|traduza|antwoord|antwoorden|spreek|spreken|schrijf"
    r"|schrijven|praat|praten|vertaal|ответь\w*|отвечай\w*|ответить|говори\w*|пиши\w*"
    r"|напиши\w*|переключи\w*|перейди\w*|продолжай\w*|переведи\w*|відповідай\w*|відповісти"
    r"|відповідь|розмовляй\w*|odpowiedz\w*|odpowiadaj\w*|mow|mowic|pisz|napisz|rozmawiaj"
    r"|jawab\w*|balas|bicara|berbicara|tulis|gunakan|pakai|tra loi|noi|viet|dung|svara|prata"
    r"|skriv|tala|اجب|أجب|أجيبي|رد|ردي|تكلم|تحدث|اكتب|ענה|עני|תענה|דבר|דברי|כתוב|תכתוב"
    r"|απαντα|απαντας|απαντατε|απαντησε|απαντηστε|απαντησεις|απαντησετε|απαντηση|μιλα|μιλας"
    r"|μιλατε|μιλησε|μιληστε|μιλησεις|μιλησετε|μιλαμε|μιλησουμε|γραψε|γραψτε|γραφε|γραφετε"
    r"|γραψεις|γραψετε|συνεχισε|συνεχιστε|συνεχισουμε|αλλαξε|αλλαξτε|γυρνα|γυρισε|γυριστε"
    r"|περασε|περαστε|μεταφρασε|μεταφραστε|πες|πειτε|raspunde|raspundeti|raspunzi|raspunda"
    r"|raspuns|vorbeste|vorbiti|vorbesti|vorbi|vorbim|scrie|scrieti|scrii|continuati|continuam"
    r"|schimba|schimbati|schimbam|treci|treceti|trecem|tradu|traduceti|foloseste|folositi"
    r"|folosesti|folosim"
)
#: what may come just before such a verb for it to be a request ("can you …", "please …",
#: "¿puedes …?", "peux-tu me …"): "I want to speak German" and "Tom can speak French" are not
_OPENERS = (
    r"please|pls|plz|kindly|just|now|ok|okay|can you|could you|would you|will you|can u"
    r"|could u|do you|i'd like you to|i would like you to|i want you to|i need you to|let's"
    r"|lets|por favor|porfa|puedes|podrias|podes|podeis|me|nos|ahora|peux-tu|pouvez-vous"
    r"|pourriez-vous|pourrais-tu|tu peux|vous pouvez|tu pourrais|vous pourriez|merci de|moi"
    r"|maintenant|kannst du|konnen sie|konntest du|konnten sie|bitte|mir|jetzt|puoi|potresti"
    r"|mi|ora|adesso|per favore|pode|podes|poderia|voce pode|agora|kun je|kunt u|zou je"
    r"|wil je|kan je|graag|можешь|можете|могли бы вы|пожалуйста|мне|теперь|давай|можеш"
    r"|будь ласка|мені|тепер|czy mozesz|mozesz|moglbys|prosze|tolong|bisa|bisakah|silakan"
    r"|mohon|hay|vui long|lam on|xin|kan du|snalla|من فضلك|لو سمحت|ممكن|אפשר|בבקשה|תוכל|תוכלי"
    r"|παρακαλω|σε παρακαλω|σας παρακαλω|μπορεις|μπορειτε|μπορεις να|μπορειτε να"
    r"|θα μπορουσες να|θα μπορουσατε να|θελω να|θα ηθελα να|να|ας|τωρα|μου|μας|te rog|va rog"
    r"|te rog sa|va rog sa|poti|puteti|poti sa|puteti sa|ai putea|ati putea|ai putea sa"
    r"|ati putea sa|vreau sa|as vrea sa|hai sa|putem sa|imi|acum"
)
#: prepositions before a language name ("in", "en", "auf", "на", "po", "bằng", "på" …)
_INTO = (r"in|into|in het|en|em|auf|na|po|на|по|dalam|pakai|bang|pa|باللغة|بلغة|ب|στα|στην|στη"
         r"|σε|in limba|pe")
#: please, in the shipped languages
_PLEASE = (
    r"please|pls|plz|por favor|porfa|s'il vous plait|s'il te plait|svp|stp|bitte|per favore"
    r"|perfavore|per piacere|alsjeblieft|alstublieft|aub|graag|пожалуйста|будь ласка|prosze"
    r"|lutfen|من فضلك|لو سمحت|कृपया|lam on|vui long|tolong|snalla|tack|בבקשה|παρακαλω"
    r"|σε παρακαλω|σας παρακαλω|te rog|va rog|va rugam"
)
#: words that can surround a bare language name without changing what it asks ("English?",
#: "en français", "auf Deutsch", "in English only", "русский язык")
_FILLERS = (
    rf"(?:{_PLEASE}|{_INTO}|the|language|lingua|idioma|langue|sprache|taal|язык\w*|мов\w*"
    r"|jezyk\w*|dil|dilinde|bahasa|tieng|ok|okay|hi|hello|hey|hola|bonjour|salut|hallo|ciao"
    r"|ola|oi|only|solo|seulement|nur|alleen|solamente|somente|tylko|только|тільки|now|ahora"
    r"|maintenant|jetzt|ora|agora|nu|again|yes|si|oui|ja|da|да|так|tak|γλωσσα|μονο|τωρα|ναι"
    r"|γεια|γεια σας|limba|doar|numai|acum|salut|buna)"
)
#: a request negated in the words just before it, or right after it in Japanese and Korean
_NEGATION = re.compile(
    r"(?<!\w)(?:not|don't|dont|do not|never|nicht|kein\w*|nie|pas|jamais|nao|niet|geen|не"
    r"|nigdy|jangan|khong|inte|לא|لا|δεν|μην|μη|οχι|niciodata)(?!\w)|不|別|别|勿"
    # Romanian "nu" only before a request verb or "în": Dutch and Swedish "nu" is "now"
    r"|(?<!\w)nu(?:[\s-]+(?:mai|imi|mi|ne))*[\s-]+(?:raspun|vorb|scri|continu|schimb|trec|tradu"
    r"|folos)\w*|(?<!\w)nu\s+(?:in|pe)\s+(?!het(?!\w))"
    # Thai writes no spaces between words: ไม่ / อย่า only as a word of their own
    r"|(?<![\u0e00-\u0e7f])(?:ไม่|อย่า)(?:ต้อง)?(?![\u0e00-\u0e7f])")
_NEGATION_AFTER = re.compile(r"^\s*(?:ないで|ません|말고|하지\s*마|지\s*마)"
                             r"|^(?:ไม่|ได้ไม่(?!ได้))")  # พูดภาษาอังกฤษไม่เป็น
_PUNCTUATION = r"[.!?,;:¿¡…。！？，、]"
#: Thai: what may come before a request verb (please, could you, you, from now on), the verbs
#: (answer, speak, write, chat, use, translate, type, switch) and the polite words after
_TH_OPENERS = (r"ช่วย|กรุณา|รบกวน|โปรด|ได้โปรด|ขอให้|ขอ|คุณ|ตอนนี้|ต่อไป|ต่อจากนี้|จากนี้ไป"
               r"|จากนี้|งั้น|อยากให้|เดี๋ยว|ลอง")
_TH_VERBS = (r"ตอบกลับ|ตอบ|พูด|เขียน|คุย|สนทนา|ใช้|แปล|พิมพ์|สื่อสาร|เปลี่ยนภาษา|เปลี่ยน|สลับภาษา"
             r"|สลับ|อธิบาย|ส่งข้อความ")
_TH_PARTICLES = (r"ได้|หน่อย|นะ|ค่ะ|คะ|ครับ|คับ|ค่า|จ้ะ|จ้า|จ๊ะ|ด้วย|แทน|เลย|เท่านั้น|ก็ได้|บ้าง"
                 r"|เถอะ|ที|สิ|ซิ|แล้วกัน|ละกัน|please")


def _fold(text: str) -> str:
    """Lower case without Latin or Greek accents, so "Français", "francais" and "FRANÇAIS"
    match, and so do "Ελληνικά" and "ελληνικα"."""
    out = []
    text = unicodedata.normalize("NFC", text.lower())
    for ch in text.replace("’", "'").replace("ł", "l").replace("đ", "d"):
        code = ord(ch)
        # Latin and Greek only: leave kana, hangul
        if code < 0x250 or 0x1E00 <= code <= 0x1FFF or 0x370 <= code <= 0x3FF:
            ch = "".join(c for c in unicodedata.normalize("NFD", ch)
                         if not unicodedata.combining(c))
        elif 0x300 <= code <= 0x36F:  # the dot "İ".lower() leaves behind
            continue
        out.append(ch)
    return " ".join("".join(out).split())


def _name_pattern(names: str) -> str:
    pieces = []
    for name in (_fold(n) for n in names.split(",")):
        stem = name.endswith("*")
        body = re.escape(name.rstrip("*")).replace(r"\ ", r"\s+").replace(r"\?", "?")
        if re.search(r"[\u0e00-\u0e7f\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]", name):
            pieces.append(body)  # no spaces between words in Thai and CJK
        else:
            ending = r"[\w'-]*" if stem else ""
            pieces.append(rf"(?<!\w){body}{ending}(?!\w)")
    return "|".join(pieces)


def _request_patterns(languages: list[str]) -> list[re.Pattern]:
    names = "|".join(rf"(?P<{code}>{_name_pattern(_LANGUAGE_NAMES[code])})"
                     for code in languages if code in _LANGUAGE_NAMES)
    if not names:
        return []
    name = rf"(?:{names})"
    end = (rf"(?=\s*(?:$|{_PUNCTUATION}|(?:{_PLEASE}|now|only|instead|from now on|again|too"
           rf"|τωρα|μονο|acum|doar|numai)(?!\w)))")
    start = rf"(?:^|{_PUNCTUATION}\s*|(?<!\w)(?:{_OPENERS})[\s,]+)"
    pronoun = (r"(?:[\s-]+(?:to me|to us|me|us|moi|mir|mit mir|mi|me|nos|мне|нам|mij|ons|mnie"
               r"|μου|μας|ne))?")
    patterns = [
        # answer/reply/speak … (me) in NAME; speak NAME.  The verb must open the message or a
        # sentence, or follow "can you", "please" …: "I want to speak German" is not a request.
        rf"{start}(?:{_VERBS}){pronoun}(?:\s+(?:{_PLEASE}|back|only|now))?"
        rf"\s+(?:(?P<into>{_INTO})(?:\s+|-))?{name}(?(into)|{end})",
        # switch to NAME, cambia al español, passe au français, muda para o inglês
        rf"{start}(?:switch|change|cambia|cambiar|pasa|passe|passez|passer|wechsle"
        rf"|wechsel|muda|mude|mudar|переключи\w*|перейди\w*|αλλαξε|αλλαξτε|γυρνα|γυρισε|γυριστε"
        rf"|περασε|περαστε|treci|treceti|trecem|schimba|schimbati|schimbam|revino|reveniti)"
        rf"(?:\s+back|\s+inapoi|\s+ξανα|\s+πισω)?\s+(?:to|a|al|au|en|zu|auf|para|para o|на"
        rf"|in het|la|pe|στα|στην|στη|σε)\s+(?:the\s+|el\s+|l'|le\s+|das\s+|o\s+|het\s+"
        rf"|limba\s+)?{name}",
        # German and Dutch put the verb last: "kannst du auf Deutsch antworten?"
        rf"(?<!\w)(?:auf|in|in het|op)\s+{name}\s+(?:\w+\s+)?(?:antworten|schreiben|sprechen"
        rf"|reden|weiter\w*|beantworten|antwoorden|schrijven|spreken|praten|verder\w*)(?!\w)",
        # (in) NAME please / please (in) NAME
        rf"(?:^|(?<!\w)(?:{_INTO})[\s-]+|(?<=\s)){name}\s*,?\s*(?:{_PLEASE})(?!\w)",
        rf"(?<!\w)(?:{_PLEASE})\s*,?\s*(?:(?:{_INTO})(?:\s+|-))?{name}{end}",
        # 日本語でお願いします, 英語で答えて, 英語にして
        rf"{name}\s*(?:で\s*(?:お願い|答え|返事|返信|回答|話して|話せ|書いて|教えて|ください|くれ"
        rf"|頼|よろしく|$|[?？。!！])|に(?:して|切り替え|変え))",
        # 请用中文回答, 说中文, 改成英文, 中文可以吗
        rf"(?:用|改用|改成|换成|換成|切换到|切換到|转成|轉成){name}(?:回答|回复|回覆|答复|說|说|讲"
        rf"|講|交流|沟通|溝通|写|寫|聊|对话|對話|吗|嗎|吧|好吗|好嗎|可以吗|可以嗎|[。！!？?]|$)",
        rf"(?:请|請|能|可以|能不能|可不可以)你?(?:说|說|讲|講){name}",
        rf"(?:^|[，,。！!？?\s])(?:说|說|讲|講){name}(?:吗|嗎|吧|好吗|好嗎|可以吗|可以嗎|[。！!？?]|$)",
        rf"{name}(?:可以吗|可以嗎|行吗|行嗎|好吗|好嗎)",
        # 영어로 답해 주세요, 한국어로 부탁해요
        rf"{name}\s*(?:으로|로)\s*(?:답|대답|말|얘기|이야기|써|작성|부탁|해|바꿔|변경|대화|응답|주세요"
        rf"|$|[?？.!])",
        # Türkçe cevap ver; अंग्रेज़ी में जवाब दो
        rf"{name}\s+(?:cevap ver|yanit ver|konus|yaz)(?:\w*\s+m[iu]\w*|in|iniz|un|unuz|)"
        rf"(?=\s*(?:$|[.!?,]|lutfen))",
        rf"{name}\s+में\s+(?:जवाब|उत्तर|बात|बोल|लिख)",
        # ช่วยตอบเป็นภาษาอังกฤษได้ไหม, คุณพูดภาษาไทยได้ไหม, เปลี่ยนเป็นภาษาไทย: Thai writes
        # no spaces between words, so the verb opens the message, a phrase or a polite word
        rf"(?:^|(?<=[\s.!?,;:…])|(?<=ครับ)|(?<=ค่ะ)|(?<=คะ)|(?<=สวัสดี))(?:(?:{_TH_OPENERS})\s*)*"
        rf"(?:{_TH_VERBS})\s*(?:(?:กับ|ให้)(?:ผม|ฉัน|หนู|เรา|ดิฉัน)?\s*)?(?:โดยใช้\s*)?"
        rf"(?:กลับ\s*)?(?:(?:มา|ไป)\s*)?(?:(?:เป็น|ด้วย)\s*)?{name}(?=$|[\s.!?,;:…]"
        rf"|{_TH_PARTICLES}|ไหม|มั้ย|ไม๊|เป็นไหม|เป็นมั้ย|ต่อ|จาก|ตั้งแต่|ตลอด|เสมอ|ทั้งหมด)",
        # ขอเป็นภาษาไทยนะคะ, ภาษาอังกฤษได้ไหม: the whole message; "ภาษา" (language) keeps
        # "อังกฤษได้ไหม" (to England?) out
        rf"^(?:(?:{_TH_OPENERS})\s*)*(?:(?:เป็น|ใช้|เอา)\s*)?ภาษา\s*{name}"
        rf"(?:\s*(?:{_TH_PARTICLES}|ไหม|มั้ย|ไม๊|ป่ะ|ปะ|เปล่า|หรือเปล่า|หรือไม่|ไป|จากนี้"
        rf"|ตั้งแต่นี้|ผม|ฉัน))*[\s.!?…]*$",
    ]
    # little more than the name: "English?", "en français", "auf Deutsch", "中文"
    patterns.append(rf"^[\s¿¡]*(?:{_FILLERS}[\s,.!?¿¡-]+)*{name}(?:[\s,.!?;¿¡-]+{_FILLERS})*"
                    rf"[\s,.!?;¿¡…。？！]*$")
    return [re.compile(name)] + [re.compile(p) for p in patterns]


class LanguageDetector:
    """Detects a message's language among the configured ones."""

    def __init__(self, languages: list[str], default_language: str, seed: int = 0,
                 second_detector: str | None = None, glossary: Iterable[str] = ()):
        self.languages = list(languages)
        self.default_language = default_language
        #: terms detection skips (the configured glossary and the product's name) …
        self._configured_terms = tuple(glossary)
        #: … and with them the names the knowledge uses (`use_names`)
        self.glossary = Glossary(self._configured_terms)
        DetectorFactory.seed = seed
        init_factory()
        from langdetect import detector_factory

        self._factory = detector_factory._factory
        self._factory.set_seed(seed)
        known = set(self._factory.get_lang_list())
        # langdetect names Chinese zh-cn / zh-tw; babeldesk's configured code is plain zh.
        self._codes = {code: code.split("-")[0] for code in known
                       if code.split("-")[0] in self.languages}
        self._prior = {code: 1.0 for code in self._codes}
        self._all_codes = sorted(known)
        self._requests = _request_patterns(self.languages)
        if second_detector not in (None, *SECOND_DETECTORS):
            raise ValueError(f"unknown second language detector {second_detector!r}; "
                             f"choose one of {', '.join(SECOND_DETECTORS)} or none")
        self.second_detector = second_detector
        self._second = None
        if second_detector == "lingua":
            self._second = _Lingua(self.languages)

    # -- what the pipeline calls --

    def detect(self, text: str, prior: str | None = None,
               locale: str | None = None) -> Detection:
        """The language to answer `text` in; `prior` is the conversation's language so far;
        `locale`, when there is none yet, the language of its author's platform locale
        (`locale_language`): a weaker prior, which a short sentence langdetect is sure of
        overrides."""
        prior = prior if prior in self.languages else None
        # Most Slack and Discord users keep an English interface whatever they write in, so
        # a locale is no conversation: docs/performance.md, "The platform's locale as a first
        # message's prior", measures what a wrong one costs.
        weak = prior is None and locale in self.languages
        prior = prior or (locale if weak else None)
        written = text
        # A request reads the names too: "answer in ENGLISH please" names no product.
        requested = self.requested_language(strip_code_and_addresses(text))
        text = self.strip_untranslated(text)
        if requested:
            return Detection(requested, True, "request")
        counts = _script_counts(text)
        script, candidates = self._script_candidates(text, counts)
        if script and not candidates:
            # Greek, Hebrew, Thai … with none of the languages written in it configured
            return self._unconfigured(_by_letters(text, script) or _SCRIPT_LANGUAGES[script][0],
                                      prior)
        if (len(candidates) > 1 and prior in candidates
                and counts["letters"] <= _SHARED_SCRIPT_LETTERS.get(script, 0)):
            return Detection(prior, False, "conversation")
        by_script = _only_candidate(script, candidates) or self._by_mark(text, script)
        if by_script:
            return Detection(by_script, True, "script")
        letters = SWITCH_LETTERS if prior else SHORT_LETTERS
        if counts["letters"] < letters or len(text.split()) < SHORT_WORDS:
            if (prior is None or weak) and script is None and (_long_enough(written)
                                                               or _short_question(text)):
                return self._short_sentence(text, prior)
            return self._fallback(prior, text, candidates)
        if script is None and counts["letters"] >= UNCONFIGURED_LETTERS:
            unconfigured = self.unconfigured_language(text, prior)
            if unconfigured:
                return self._unconfigured(unconfigured, prior)
        probs = self.probabilities(text, prior)
        best = max(probs, key=probs.get) if probs else None
        if best is not None and best == prior:
            return Detection(best, True, "statistics")
        # Without a second detector, a confident langdetect switches; with one, a switch away
        # from the conversation's language is where langdetect's mistakes cost, so it checks.
        if best is not None and probs[best] >= MIN_CONFIDENCE and (prior is None
                                                                  or self._second is None):
            return Detection(best, True, "statistics")
        if self._second is not None:
            second = self._second.detect(text, prior)
            if second:
                return Detection(second, True, self.second_detector)
        return self._fallback(prior, text, candidates)

    def strip_untranslated(self, text: str) -> str:
        """`text` as detection reads it: without names, code, links, file names and quoted
        messages (bot/glossary.py), the glossary's terms included."""
        return strip_untranslated(text, self.glossary)

    def use_names(self, names: Iterable[str]) -> None:
        """Skip these names too, beside the configured glossary (the names in the knowledge's
        headings: they change with the knowledge)."""
        self.glossary = Glossary([*self._configured_terms, *names])

    def unconfigured_language(self, text: str, prior: str | None = None) -> str | None:
        """The language `text` is written in when it is none of the configured ones and
        langdetect, choosing among every language it knows, is sure of it; else None."""
        detector = self._factory.create()
        weight = {code: PRIOR_WEIGHT if code.split("-")[0] == prior else 1.0
                  for code in self._all_codes}
        detector.set_prior_map(weight)
        detector.append(text)
        try:
            found = detector.get_probabilities()
        except LangDetectException:
            return None
        if not found:
            return None
        language = found[0].lang.split("-")[0]
        if language in self.languages or found[0].prob < UNCONFIGURED_CONFIDENCE:
            return None
        if any(relative in self.languages for relative in _RELATIVES.get(language, ())):
            return None
        return language

    def warm_up(self) -> None:
        """Load the second detector's models now rather than as messages need them (lingua:
        about 5 s and 500 MB for 20 languages). Nothing to do for langdetect alone."""
        if self._second is not None:
            self._second.warm_up()

    def requested_language(self, text: str) -> str | None:
        """The configured language the message asks to be answered in, if it asks for one:
        "can you answer in French?", "in English please", "auf Deutsch bitte", "English?"."""
        if len(text) > 500:
            text = text[:500]  # requests are short; a long message is a question
        folded = _fold(text)
        if not self._requests or not self._requests[0].search(folded):
            return None  # no language named: most messages stop here
        for pattern in self._requests[1:]:
            for match in pattern.finditer(folded):
                # the words since the last punctuation, up to three: "please don't …"
                before = re.split(_PUNCTUATION, folded[:match.start()])[-1].split()[-3:]
                if (_NEGATION.search(" ".join(before) + " " + match.group())
                        or _NEGATION_AFTER.search(folded[match.end():])):
                    continue  # "not in English please", "英語で答えないで"
                for code in self.languages:
                    if match.groupdict().get(code):
                        return code
        return None

    def probabilities(self, text: str, prior: str | None = None) -> dict[str, float]:
        """langdetect's probability for each configured language (summed over zh variants),
        with `prior` (a configured language) PRIOR_WEIGHT times likelier to begin with."""
        detector = self._factory.create()
        if prior in self.languages:
            detector.set_prior_map({code: PRIOR_WEIGHT if lang == prior else 1.0
                                    for code, lang in self._codes.items()})
        else:
            detector.set_prior_map(self._prior)
        detector.append(text)
        try:
            found = detector.get_probabilities()
        except LangDetectException:
            return {}
        out: dict[str, float] = {}
        for item in found:
            lang = self._codes.get(item.lang)
            if lang:
                out[lang] = out.get(lang, 0.0) + item.prob
        return out

    def detect_document(self, text: str) -> str | None:
        """The language of a knowledge file, or None when it cannot be told (from its first
        5,000 characters: enough to tell, and a long file is re-indexed at every edit)."""
        text = text[:5000]
        by_script = self._by_script(text, _script_counts(text))
        if by_script:
            return by_script
        probs = self.probabilities(text)
        if not probs:
            return None
        best = max(probs, key=probs.get)
        return best if probs[best] >= 0.5 else None

    # -- helpers --

    def _script_candidates(self, text: str, counts: dict[str, int]) -> tuple[str | None,
                                                                              list[str]]:
        """The text's main non-Latin script and the configured languages written in it:
        one candidate decides; several leave it to the prior or statistics; none, Latin."""
        if counts.get("kana") and "ja" in self.languages:
            return "kana", ["ja"]  # Japanese mixes kana with Han; kana alone says Japanese
        scripts = {k: v for k, v in counts.items() if k != "letters"}
        if not scripts:
            return None, []
        script, count = max(scripts.items(), key=lambda item: item[1])
        if count < 2 or count < counts["letters"] * 0.5:
            return None, []
        candidates = [lang for lang in _SCRIPT_LANGUAGES[script] if lang in self.languages]
        by_letters = _by_letters(text, script)
        if by_letters:
            return script, [by_letters] if by_letters in self.languages else []
        if script == "cyrillic" and len(candidates) > 1:
            letters = set(text)
            if letters & _UKRAINIAN_ONLY and "uk" in candidates:
                return script, ["uk"]
            if letters & _RUSSIAN_ONLY and "ru" in candidates:
                return script, ["ru"]
            words = set(re.findall(r"[\w'-]+", text.lower()))
            ukrainian, russian = len(words & _UKRAINIAN_WORDS), len(words & _RUSSIAN_WORDS)
            if ukrainian > russian and "uk" in candidates:
                return script, ["uk"]
            if russian > ukrainian and "ru" in candidates:
                return script, ["ru"]
        return script, candidates

    def _by_script(self, text: str, counts: dict[str, int]) -> str | None:
        """The language when the script leaves only one configured candidate (Han: Chinese)."""
        return _only_candidate(*self._script_candidates(text, counts))

    def _by_mark(self, text: str, script: str | None) -> str | None:
        """The configured language that alone writes a mark the text has (¿ ¡: Spanish)."""
        if script is None:
            for mark, language in _MARKS.items():
                if mark in text and language in self.languages:
                    return language
        return None

    def _short_sentence(self, text: str, locale: str | None = None) -> Detection:
        """A short first message's language, when it is a sentence (SENTENCE_CONFIDENCE);
        else the locale's language, else the default."""
        probs = self.probabilities(text)
        best = max(probs, key=probs.get) if probs else None
        if best is not None and probs[best] >= SENTENCE_CONFIDENCE:
            return Detection(best, True, "statistics")
        return self._fallback(locale)

    def _fallback(self, prior: str | None, text: str = "",
                  candidates: list[str] | None = None) -> Detection:
        """The conversation's language, else the default; but a text in a script that several
        configured languages share is in one of them ("Как настроение?" is no English)."""
        if candidates and prior not in candidates:
            probs = self.probabilities(text) if text else {}
            likeliest = max(candidates, key=lambda lang: probs.get(lang, 0.0))
            return Detection(likeliest, False, "script")
        if prior:
            return Detection(prior, False, "conversation")
        return Detection(self.default_language, False, "default")

    def _unconfigured(self, language: str, prior: str | None) -> Detection:
        log.info("a message in %s, which is not configured: answered in %s", language,
                 prior or self.default_language)
        return dataclasses.replace(self._fallback(prior), reason="unconfigured",
                                   unconfigured=language)


def locale_language(locale: str, languages: Iterable[str]) -> str | None:
    """The configured language of a platform's locale ("de-DE" → de, "pt-BR" → pt, "zh-TW" →
    zh, "es-419" → es, "nb" → no), or None: unknown, empty, or a language not configured.

    Only the language counts: babeldesk has one Chinese and one Portuguese, and a region says
    nothing about which to answer in."""
    code = re.split(r"[-_]", locale.strip().lower(), maxsplit=1)[0]
    languages = list(languages)
    for candidate in (code, _LOCALE_ALIASES.get(code)):
        if candidate and candidate in languages:
            return candidate
    return None


def _by_letters(text: str, script: str | None) -> str | None:
    """Persian or Urdu, when an Arabic-script text has two letters of theirs or more, and
    few of Arabic's own."""
    if script != "arabic":
        return None
    arabic = sum(ch in _ARABIC_ONLY for ch in text)
    for language, letters in _ARABIC_SCRIPT_LETTERS.items():
        own = sum(ch in letters for ch in text)
        if own >= 2 and own >= 3 * arabic:
            return language
    return None


def _long_enough(text: str) -> bool:
    """Whether a message, names included (code and links not), is long enough to judge."""
    text = strip_code_and_addresses(text)
    return (_script_counts(text)["letters"] >= SHORT_LETTERS
            and len(text.split()) >= SHORT_WORDS)


def _short_question(text: str) -> bool:
    """A question of a few words (QUESTION_WORDS, QUESTION_LETTERS)."""
    return (text.rstrip().endswith("?") and len(text.split()) >= QUESTION_WORDS
            and _script_counts(text)["letters"] >= QUESTION_LETTERS)


def _only_candidate(script: str | None, candidates: list[str]) -> str | None:
    if script == "han" and "zh" in candidates:
        return "zh"  # Han without kana: Chinese, unless _SHARED_SCRIPT_LETTERS says otherwise
    return candidates[0] if len(candidates) == 1 else None


class _Lingua:
    """lingua-language-detector restricted to the configured languages it knows."""

    def __init__(self, languages: list[str]):
        try:
            from lingua import IsoCode639_1, LanguageDetectorBuilder
        except ImportError as exc:
            raise ImportError("second_detector='lingua' needs lingua-language-detector: "
                              "pip install babeldesk[lingua]") from exc
        codes = [getattr(IsoCode639_1, lang.upper()) for lang in languages
                 if hasattr(IsoCode639_1, lang.upper())]
        if len(codes) < 2:
            raise ValueError("the lingua second detector needs at least two of the "
                             "configured languages")
        # Models load as messages need them (about 4 s and 370 MB for 20 languages) unless
        # warm_up() loads them at once.
        self._builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        self._detector = self._builder.build()

    def warm_up(self) -> None:
        self._detector = self._builder.with_preloaded_language_models().build()

    def detect(self, text: str, prior: str | None) -> str | None:
        values = {value.language.iso_code_639_1.name.lower(): value.value
                  for value in self._detector.compute_language_confidence_values(text)}
        if prior in values:
            values[prior] *= SECOND_PRIOR_WEIGHT
        best = max(values, key=values.get, default=None)
        return best if best and values[best] > 0 else None
