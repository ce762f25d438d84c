"""Reading the text in customers' screenshots and photos, offline, with Tesseract.

Tesseract through tesserocr (a wheel that bundles libtesseract), with Debian's language packs
(`tesseract-ocr-deu`, …): measured against the alternatives in docs/ocr-choice.md. The image
is decoded by Pillow (bot/attachments.py bounds its pixels), made grayscale, doubled when it is
small, and read as sparse text (page segmentation mode 11), which finds a dialog's title, its
lines and its button; Korean reads better as one block (mode 6).

The language matters: a model for the right language reads 0.99 of a Latin screenshot's
characters, a mix of many reads less. `read` takes the languages to try, best guess first;
when there is no guess, Tesseract's script detection picks the configured languages of the
image's script, and the language of what it read then picks the model for a second reading.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .config import env

log = logging.getLogger(__name__)

#: babeldesk's language codes → Tesseract's (ISO 639-2/T), and Debian's package suffix
TESSERACT = {
    "en": "eng", "de": "deu", "es": "spa", "fr": "fra", "it": "ita", "pt": "por",
    "nl": "nld", "pl": "pol", "ru": "rus", "uk": "ukr", "tr": "tur", "ja": "jpn",
    "zh": "chi_sim", "zh-tw": "chi_tra", "ko": "kor", "ar": "ara", "hi": "hin", "vi": "vie",
    "id": "ind", "sv": "swe", "he": "heb", "el": "ell", "ro": "ron", "th": "tha",
    "cs": "ces", "da": "dan", "fi": "fin", "hu": "hun", "no": "nor", "bg": "bul",
    "fa": "fas", "ca": "cat", "sk": "slk", "hr": "hrv", "sl": "slv", "lt": "lit",
    "lv": "lav", "et": "est", "bn": "ben", "ta": "tam", "ur": "urd",
}
#: the script Tesseract's orientation-and-script detection names → the languages written in it
SCRIPTS = {
    "Latin": ("en", "de", "es", "fr", "it", "pt", "nl", "pl", "tr", "vi", "id", "sv", "ro",
              "cs", "da", "fi", "hu", "no", "ca", "sk", "hr", "sl", "lt", "lv", "et"),
    "Cyrillic": ("ru", "uk", "bg"),
    "Japanese": ("ja",), "Han": ("zh", "ja"), "HanS": ("zh",), "HanT": ("zh-tw", "zh"),
    "Korean": ("ko",), "Hangul": ("ko",),
    "Arabic": ("ar", "fa", "ur"), "Hebrew": ("he",), "Greek": ("el",), "Thai": ("th",),
    "Devanagari": ("hi",), "Bengali": ("bn",), "Tamil": ("ta",),
}
LATIN = frozenset(SCRIPTS["Latin"])
#: a small image is doubled before reading: small CJK and Arabic text reads far better so
SMALL_HEIGHT = 400
#: the longest side Tesseract is given; a larger photo is scaled down (its text stays legible)
LONGEST_SIDE = 4000
#: languages read together when the script is known but not the language (Latin: the first of
#: these configured ones; the language of what was read then picks the model)
FIRST_GUESSES = 3


def tessdata_dir() -> Path:
    """Where Tesseract's language models are: $TESSDATA_PREFIX, else Debian's place."""
    configured = env("TESSDATA_PREFIX")
    if configured:
        return Path(configured)
    for candidate in ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata",
                      "/usr/share/tessdata", "/usr/local/share/tessdata",
                      "/opt/homebrew/share/tessdata"):
        if Path(candidate).is_dir():
            return Path(candidate)
    return Path("/usr/share/tesseract-ocr/5/tessdata")


def package_of(code: str) -> str:
    """The Debian/Ubuntu package with a Tesseract model: chi_sim → tesseract-ocr-chi-sim."""
    return "tesseract-ocr-" + code.replace("_", "-")


@dataclass(frozen=True)
class Reading:
    """What was read in one image."""

    text: str
    #: the Tesseract models used, like "deu" or "jpn+eng"
    models: str
    #: Tesseract's mean word confidence, 0–100
    confidence: float
    seconds: float
    #: the script found by script detection, when it ran
    script: str = ""


class TextReader:
    """Tesseract, with one engine per set of models, made on first use and kept.

    An engine is not safe to use from two threads at once: reading is serialised (one image
    takes about 0.1 s). `detect_language` gives the chances of each language for a text
    (bot/language.py's `probabilities`): the language of what was read picks the model for
    a second reading.
    """

    def __init__(self, languages: Sequence[str], default_language: str = "en",
                 detect_language: Callable[[str], dict[str, float]] | None = None,
                 tessdata: Path | None = None):
        self.languages = list(languages)
        self.default_language = default_language
        self.detect_language = detect_language
        self.tessdata = tessdata or tessdata_dir()
        self._apis: dict[tuple[str, int], object] = {}
        self._lock = threading.Lock()
        self._tesserocr = None
        self._installed: set[str] | None = None

    # -- what is installed --

    def installed(self) -> set[str]:
        """The Tesseract models installed (eng, deu, osd, …), looked up once."""
        if self._installed is None:
            try:
                self._installed = {p.name[:-len(".traineddata")]
                                   for p in self.tessdata.iterdir()
                                   if p.name.endswith(".traineddata")}
            except OSError:
                self._installed = set()
        return self._installed

    def missing(self) -> list[str]:
        """The models the configured languages need and the machine lacks: eng and osd
        always, then each configured language Tesseract has a model for."""
        have = self.installed()
        wanted = ["eng", "osd", *(TESSERACT[lang] for lang in self.languages if lang in TESSERACT)]
        return [code for code in dict.fromkeys(wanted) if code not in have]

    def problem(self) -> str | None:
        """Why OCR cannot run here, in one line with the fix; None when it can."""
        try:
            import tesserocr  # noqa: F401
        except ImportError as exc:
            return f"tesserocr does not load ({exc}): reinstall babeldesk"
        if "eng" not in self.installed():
            return (f"no Tesseract models in {self.tessdata}: apt-get install "
                    f"{' '.join(package_of(c) for c in self.missing())} (or set TESSDATA_PREFIX)")
        return None

    # -- reading --

    def read(self, image, languages: Sequence[str] = ()) -> Reading:
        """The text in a Pillow image. `languages`: the likely ones, best first (the
        conversation's language, the caption's), used when they are written in the image's
        script; otherwise, and when empty, the language is found from the image itself."""
        started = time.monotonic()
        image = prepare(image)
        have = self.installed()
        # The script first, always: a conversation held in English says nothing about the
        # Japanese error on a screenshot pasted into it.
        script, image = self._script_of(image, have)
        guesses = [lang for lang in languages if TESSERACT.get(lang) in have
                   and (not script or lang in SCRIPTS.get(script, ()))]
        hinted = bool(guesses)
        if not guesses:
            guesses = self._languages_of_script(script, have) if script else \
                self._one_per_script(have)
        count = 1 if hinted else FIRST_GUESSES if script else len(guesses)
        first = self._read(image, guesses[:count])
        reading = first
        if self.detect_language and first.text.strip():
            # What was read tells the language better than the guess did: read again with
            # that language's own model when it is another one.
            found = self._language_of(first.text, have)
            if found and found != guesses[0]:
                second = self._read(image, [found])
                if second.confidence >= first.confidence - 10:
                    reading = second
        return Reading(reading.text, reading.models, reading.confidence,
                       time.monotonic() - started, script)

    def _language_of(self, text: str, have: set[str]) -> str | None:
        """The likeliest configured language of `text` that Tesseract has a model for."""
        chances = self.detect_language(text) or {}
        usable = [(p, lang) for lang, p in chances.items()
                  if p >= 0.2 and lang in self.languages and TESSERACT.get(lang) in have]
        return max(usable)[1] if usable else None

    def _languages_of_script(self, script: str, have: set[str]) -> list[str]:
        candidates = SCRIPTS.get(script, ())
        # The configured languages of that script, the default one first.
        ordered = sorted((lang for lang in self.languages if lang in candidates),
                         key=lambda lang: lang != self.default_language)
        ordered += [lang for lang in candidates if lang not in ordered]
        usable = [lang for lang in ordered if TESSERACT.get(lang) in have]
        return usable or [self.default_language if TESSERACT.get(self.default_language) in have
                          else "en"]

    def _one_per_script(self, have: set[str]) -> list[str]:
        """When the script cannot be told (little text, a photo): the default language and
        the first configured language of each other script, read together; the language of
        what they read then picks the model for the second reading."""
        chosen = [self.default_language] if TESSERACT.get(self.default_language) in have else []
        scripts = {script_of_language(lang) for lang in chosen}
        for lang in self.languages:
            script = script_of_language(lang)
            if script not in scripts and TESSERACT.get(lang) in have:
                chosen.append(lang)
                scripts.add(script)
        return chosen or ["en"]

    def _script_of(self, image, have: set[str]):
        """The image's script by Tesseract's detection, and the image turned upright when
        it lies on its side; ("", image) when the detection cannot tell."""
        if "osd" not in have:
            return "", image
        tesserocr = self._module()
        with self._lock:
            api = self._api("osd", int(tesserocr.PSM.OSD_ONLY))
            api.SetImage(image)
            try:
                found = api.DetectOrientationScript()
            except RuntimeError:
                found = None
            api.Clear()
        if not found:
            return "", image
        degrees = found.get("orient_deg") or 0
        if degrees and (found.get("orient_conf") or 0) > 5:
            image = image.rotate(degrees, expand=True)
        return (found.get("script_name") or "") if (found.get("script_conf") or 0) > 0.5 else "", \
            image

    def _read(self, image, languages: Sequence[str]) -> Reading:
        tesserocr = self._module()
        codes = [TESSERACT[lang] for lang in languages if lang in TESSERACT]
        if not all(lang in LATIN for lang in languages) and "eng" not in codes:
            # Error codes, product names and English interface words appear in every script.
            codes.append("eng")
        models = "+".join(dict.fromkeys(codes or ["eng"]))
        psm = tesserocr.PSM.SINGLE_BLOCK if languages and languages[0] == "ko" \
            else tesserocr.PSM.SPARSE_TEXT
        started = time.monotonic()
        with self._lock:
            api = self._api(models, int(psm))
            api.SetImage(image)
            text = api.GetUTF8Text()
            confidence = float(api.MeanTextConf())
            api.Clear()
        return Reading(tidy(text, models), models, confidence, time.monotonic() - started)

    def _module(self):
        if self._tesserocr is None:
            import tesserocr

            self._tesserocr = tesserocr
        return self._tesserocr

    def _api(self, models: str, psm: int):
        key = (models, psm)
        api = self._apis.get(key)
        if api is None:
            tesserocr = self._module()
            path = str(self.tessdata).rstrip("/") + "/"
            api = tesserocr.PyTessBaseAPI(path=path, lang=models, psm=psm)
            loaded = set(api.GetLoadedLanguages())
            lacking = [code for code in models.split("+") if code not in loaded]
            if lacking:
                # Tesseract silently loads what it finds: say which models are missing.
                log.warning("ocr: Tesseract has no model for %s in %s: apt-get install %s",
                            ", ".join(lacking), path, " ".join(map(package_of, lacking)))
            self._apis[key] = api
        return api


def script_of_language(language: str) -> str:
    return next((script for script, langs in SCRIPTS.items() if language in langs), "")


def prepare(image):
    """Grayscale, at most LONGEST_SIDE pixels long, doubled when small."""
    from PIL import Image

    image = image.convert("L")
    if max(image.size) > LONGEST_SIDE:
        image.thumbnail((LONGEST_SIDE, LONGEST_SIDE), Image.LANCZOS)
    if image.height < SMALL_HEIGHT and image.width * 2 <= LONGEST_SIDE:
        image = image.resize((image.width * 2, image.height * 2), Image.LANCZOS)
    return image


def tidy(text: str, models: str) -> str:
    """Tesseract's lines without blank runs; CJK text without the spaces it puts between
    characters."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if any(code in models for code in ("jpn", "chi_sim", "chi_tra")):
        lines = [_join_cjk(line) for line in lines]
    return "\n".join(lines)


def _join_cjk(line: str) -> str:
    out = []
    for i, ch in enumerate(line):
        if ch == " " and 0 < i < len(line) - 1 and _is_cjk(line[i - 1]) and _is_cjk(line[i + 1]):
            continue
        out.append(ch)
    return "".join(out)


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return 0x3000 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF
