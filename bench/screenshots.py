"""Screenshots customers send: error screens drawn from text, for the OCR benchmark and tests.

    .venv/bin/python bench/screenshots.py [--sets kettle,fdroid] [--write DIR] [--check]
    .venv/bin/python bench/screenshots.py --fixtures tests/data/screenshots

bench/screenshots/<set>.yaml holds the cases: a screen's text (title, message lines, an
optional error code, a button) in one language, the caption a customer would type with the
picture, and the help-centre section it should lead to ("en/file.md › Heading", as in
questions.yaml, so `bot.evaluate` can score it). `render(case)` draws the screen with Pillow and
Debian's Noto fonts, the same picture every time (seeded by the case id), in one of six variants:

- dialog: a desktop error dialog on a strip of wallpaper, light theme, 1×;
- dark:   the same in dark mode;
- hidpi:  the dialog at 2×;
- phone:  a phone app screen, 2×: status bar, app bar, a card with the message and a button;
- photo:  a phone photo of a monitor showing the dialog: a tilt, a 2–5° rotation, blur, a
          brightness gradient, sensor noise, JPEG quality 60;
- toast:  a small notification banner, 1×.

`truth(case)` is all the text on the picture in reading order, one line per line of text (a
message line wrapped on a narrow screen stays one line); compare it with OCR output with the
whitespace collapsed (removed for ja and zh).

--write DIR writes every case's picture to DIR and prints counts per language, script and
variant; --check also checks that every expected section is a heading of its knowledge;
--fixtures DIR writes the small committed test pictures (tests/data/screenshots) and their
README.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import sys
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from PIL import Image, ImageDraw, ImageFilter, ImageFont, features

from common import DATA, ROOT, table

from bot.evaluate import Expected, Question

CASES = Path(__file__).resolve().parent / "screenshots"
SETS = ("kettle", "fdroid")
VARIANTS = ("dialog", "dark", "hidpi", "phone", "photo", "toast")
SCRIPTS = {"en": "Latin", "de": "Latin", "es": "Latin", "fr": "Latin", "pl": "Latin",
           "tr": "Latin", "it": "Latin", "pt": "Latin", "nl": "Latin", "ru": "Cyrillic",
           "uk": "Cyrillic", "ja": "CJK", "zh": "CJK", "ko": "Hangul", "ar": "Arabic"}
RTL = {"ar"}
LANGUAGES = tuple(SCRIPTS)
#: the app whose screen it is, shown in the title bar, app bar or notification
APP = {"kettle": "Kettlebird", "fdroid": "F-Droid", "offtopic": "System"}
#: the app's colour (app bar, buttons, icon)
ACCENT = {"kettle": (0, 121, 107), "fdroid": (21, 101, 192), "offtopic": (90, 90, 110)}
CLOCK = "9:41"

NOTO = Path("/usr/share/fonts/truetype/noto")
NOTO_CJK = Path("/usr/share/fonts/opentype/noto")
#: index of each language's face in NotoSansCJK-*.ttc (JP, KR, SC, TC, HK)
CJK_INDEX = {"ja": 0, "ko": 1, "zh": 2}
FONT_PACKAGES = {"NotoSansCJK": "fonts-noto-cjk", "NotoSansArabicUI": "fonts-noto-ui-core"}


class FontMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Case:
    id: str
    set: str
    language: str
    script: str
    variant: str
    title: str
    lines: tuple[str, ...]
    code: str | None
    button: str
    #: what the customer types along with the picture
    caption: str
    #: acceptable sections, as bot.evaluate scores them (any one counts)
    expected: tuple[Expected, ...]
    #: the section the case is about (the first of `expected`)
    file: str
    section: str | None

    def question(self, number: int = 1, text: str | None = None) -> Question:
        """The case as a bot.evaluate question: by default the caption alone; pass the text the
        pipeline builds from the caption and the OCR output."""
        return Question(number, text if text is not None else self.caption, self.expected,
                        self.language)


def knowledge_folder(set_name: str) -> Path:
    """The knowledge folder a set's expected sections are in."""
    where = yaml.safe_load((CASES / f"{set_name}.yaml").read_text("utf-8"))["knowledge"]
    if isinstance(where, dict):
        return DATA / where["data"]
    return ROOT / where


def load_cases(set_name: str) -> list[Case]:
    """The cases of bench/screenshots/<set_name>.yaml. A case without a variant gets one in
    turn: the k-th case of a language in the file (counting those with a variant) gets
    VARIANTS[(the language's place in LANGUAGES + the file's variant_offset + k) % 6], so each
    language gets a spread of them across the sets."""
    path = CASES / f"{set_name}.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    offset = int(data.get("variant_offset", 0))
    cases, seen, per_language = [], set(), Counter()
    for number, entry in enumerate(data["cases"], start=1):
        def fail(problem: str) -> ValueError:
            return ValueError(f"{path}: case {number} ({entry.get('id')}): {problem}")

        unknown = set(entry) - {"id", "language", "variant", "expect", "title", "lines", "code",
                                "button", "caption"}
        if unknown:
            raise fail(f"unknown key {sorted(unknown)[0]!r}")
        if entry["id"] in seen:
            raise fail("duplicate id")
        seen.add(entry["id"])
        language = entry["language"]
        if language not in SCRIPTS:
            raise fail(f"language {language!r} is not one of {', '.join(SCRIPTS)}")
        variant = entry.get("variant")
        turn = per_language[language]
        per_language[language] += 1
        if variant is None:
            variant = VARIANTS[(LANGUAGES.index(language) + offset + turn) % len(VARIANTS)]
        elif variant not in VARIANTS:
            raise fail(f"variant {variant!r} is not one of {', '.join(VARIANTS)}")
        lines = entry["lines"]
        if not (isinstance(lines, list) and 1 <= len(lines) <= 3
                and all(isinstance(line, str) and line.strip() for line in lines)):
            raise fail("lines must be 1 to 3 lines of text")
        raw = entry.get("expect")
        raw = [] if raw is None and set_name == "offtopic" else \
            raw if isinstance(raw, list) else [raw]
        if (not raw and set_name != "offtopic") or not all(isinstance(i, str) for i in raw):
            raise fail("expect must be `file › heading` or a list of them")
        expected = tuple(_expected(item) for item in raw)
        expected += tuple(t for e in expected for t in translations(set_name, e)
                          if t not in expected)
        cases.append(Case(
            id=entry["id"], set=set_name, language=language, script=SCRIPTS[language],
            variant=variant, title=str(entry["title"]).strip(),
            lines=tuple(line.strip() for line in lines),
            code=str(entry["code"]).strip() if entry.get("code") else None,
            button=str(entry["button"]).strip(), caption=str(entry["caption"]).strip(),
            expected=expected, file=expected[0].file if expected else "",
            section=expected[0].heading if expected else None))
    return cases


#: the sample knowledge's articles in other languages: the same sections, in the same order
TRANSLATED = {
    "en/troubleshooting.md": ("es/problemas.md", "de/fehlerbehebung.de.md", "fr/depannage.md",
                              "ja/troubleshooting.md"),
    "en/account.md": ("es/cuenta.md", "de/konto.de.md", "fr/compte.md", "ja/account.md"),
    "en/billing.md": ("es/facturacion.md", "de/zahlung.de.md", "fr/facturation.md",
                      "ja/billing.md"),
    "en/shipping.md": ("es/envios.md", "de/versand.de.md", "fr/livraison.md", "ja/shipping.md"),
}


@lru_cache(maxsize=None)
def _headings(folder: Path, file: str) -> tuple[str, ...]:
    return tuple(line[3:].strip() for line in (folder / file).read_text("utf-8").splitlines()
                 if line.startswith("## "))


def translations(set_name: str, expected: Expected) -> list[Expected]:
    """The expected section in the knowledge's other languages (the sample knowledge has
    its articles in five): finding the customer's own language's article is right too."""
    others = TRANSLATED.get(expected.file, ()) if set_name == "kettle" else ()
    if not others or expected.heading is None:
        return [Expected(file) for file in others]
    folder = knowledge_folder(set_name)
    index = _headings(folder, expected.file).index(expected.heading)
    return [Expected(file, _headings(folder, file)[index]) for file in others]


def _expected(item: str) -> Expected:
    file, _, heading = item.partition("›" if "›" in item else " > ")
    return Expected(file.strip(), heading.strip() or None)


def check_sections(set_name: str, cases: list[Case]) -> list[str]:
    """Problems with the expected sections: a file or heading not in the set's knowledge."""
    from bot.knowledge.parse import parse_markdown

    folder = knowledge_folder(set_name)
    problems, headings = [], {}
    for case in cases:
        for expected in case.expected:
            if expected.file not in headings:
                path = folder / expected.file
                headings[expected.file] = None if not path.is_file() else {
                    " ".join(h.casefold().split())
                    for _, h, _ in parse_markdown(path.read_text("utf-8"), "", 100_000)[0]}
            found = headings[expected.file]
            if found is None:
                problems.append(f"{case.id}: {expected.file} is not in {folder}")
            elif expected.heading and " ".join(expected.heading.casefold().split()) not in found:
                problems.append(f"{case.id}: {expected.file} has no heading "
                                f"{expected.heading!r}")
    return problems


# --- fonts and text ------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def font(language: str, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """Noto Sans for Latin and Cyrillic, Noto Sans CJK (the language's face) for ja, zh and ko,
    Noto Sans Arabic UI for ar."""
    weight = "Bold" if bold else "Regular"
    if language in CJK_INDEX:
        path, index = NOTO_CJK / f"NotoSansCJK-{weight}.ttc", CJK_INDEX[language]
    elif language in RTL:
        path, index = NOTO / f"NotoSansArabicUI-{weight}.ttf", 0
    else:
        path, index = NOTO / f"NotoSans-{weight}.ttf", 0
    if not path.is_file():
        package = next((p for prefix, p in FONT_PACKAGES.items() if path.name.startswith(prefix)),
                       "fonts-noto-core")
        raise FontMissing(f"font {path} is missing: install the Debian package {package} "
                          f"(apt-get install {package})")
    return ImageFont.truetype(str(path), size, index=index)


def _runs(text: str, language: str) -> list[tuple[str, str]]:
    """(text, language) runs in visual order, left to right. Only Arabic needs more than one:
    its font has no Latin letters, and a right-to-left line shows an embedded Latin run ("KB-2",
    "F-Droid") left of the Arabic before it."""
    if language not in RTL:
        return [(text, language)]
    logical: list[list] = []
    i = 0
    while i < len(text):
        if text[i].isascii() and text[i].isalpha():
            j = i
            while j < len(text) and (text[j].isascii() and (text[j].isalnum() or text[j] in "-._/")
                                     or text[j] == " " and j + 1 < len(text)
                                     and text[j + 1].isascii() and text[j + 1].isalnum()):
                j += 1
            logical.append([text[i:j], "en"])
            i = j
        else:
            if not logical or logical[-1][1] != language:
                logical.append(["", language])
            logical[-1][0] += text[i]
            i += 1
    return [(t, lang) for t, lang in reversed(logical)]


def text_width(text: str, language: str, size: int, bold: bool = False) -> int:
    return int(sum(font(lang, size, bold).getlength(
        t, direction="rtl" if lang in RTL else None) for t, lang in _runs(text, language)))


def draw_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, language: str,
              size: int, fill, bold: bool = False, align: str = "left", width: int = 0) -> None:
    """Text with its top left at xy; align "right" puts its right edge at xy[0] + width,
    "center" centres it in width."""
    x, y = xy
    total = text_width(text, language, size, bold)
    if align == "right":
        x += width - total
    elif align == "center":
        x += (width - total) / 2
    for part, lang in _runs(text, language):
        f = font(lang, size, bold)
        if lang in RTL:
            draw.text((x, y), part, font=f, fill=fill, direction="rtl", language="ar")
            x += f.getlength(part, direction="rtl")
        else:
            draw.text((x, y), part, font=f, fill=fill)
            x += f.getlength(part)


def wrap(text: str, language: str, size: int, width: int, bold: bool = False) -> list[str]:
    """`text` broken into lines no wider than `width` (at spaces; anywhere in ja and zh, but not
    before closing punctuation)."""
    if text_width(text, language, size, bold) <= width:
        return [text]
    lines: list[str] = []
    if language in ("ja", "zh"):
        current = ""
        for char in text:
            if current and text_width(current + char, language, size, bold) > width \
                    and char not in "、。，．・：；？！」』）)】":
                lines.append(current)
                current = char
            else:
                current += char
        return lines + [current] if current else lines
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and text_width(candidate, language, size, bold) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return lines + [current]


def line_height(language: str, size: int) -> int:
    return int(size * (1.55 if language in RTL else 1.45))


# --- the screens ---------------------------------------------------------------------------------

def _rng(case: Case) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(case.id.encode()).digest()[:8], "big"))


def _blocks(case: Case) -> list[tuple[str, str]]:
    """The screen's text as (kind, text), in reading order."""
    return ([("app", APP[case.set]), ("title", case.title)] + [("line", l) for l in case.lines]
            + ([("code", case.code)] if case.code else []) + [("button", case.button)])


def truth(case: Case) -> str:
    """All the text on the picture in reading order, one line per line of text."""
    head = [CLOCK] if case.variant == "phone" else []
    return "\n".join(head + [text for _, text in _blocks(case)])


def dialog(case: Case, scale: int = 1, dark: bool = False) -> Image.Image:
    """A desktop error dialog on a strip of wallpaper."""
    s, lang, rtl, rng = scale, case.language, case.language in RTL, _rng(case)
    accent = ACCENT[case.set]
    if dark:
        bg, fg, muted, bar, barfg, btn, btnfg = ((32, 32, 32), (235, 235, 235), (170, 170, 170),
                                                 (45, 45, 45), (225, 225, 225), accent,
                                                 (255, 255, 255))
    else:
        bg, fg, muted, bar, barfg, btn, btnfg = ((250, 250, 250), (25, 25, 25), (100, 100, 100),
                                                 (238, 238, 238), (40, 40, 40), accent,
                                                 (255, 255, 255))
    body, head, small = 15 * s, 17 * s, 13 * s
    pad, icon = 22 * s, 36 * s
    text_w = 460 * s
    title = wrap(case.title, lang, head, text_w, bold=True)
    lines = [w for line in case.lines for w in wrap(line, lang, body, text_w)]
    code = wrap(case.code, lang, small, text_w) if case.code else []
    used = max([text_width(t, lang, head, True) for t in title]
               + [text_width(t, lang, body) for t in lines]
               + [text_width(t, lang, small) for t in code])
    W = max(380 * s, pad * 3 + icon + used)
    bar_h = 32 * s
    bw = text_width(case.button, lang, body) + 36 * s
    content_h = (len(title) * line_height(lang, head) + 6 * s + len(lines) * line_height(lang, body)
                 + (6 * s + len(code) * line_height(lang, small) if code else 0))
    H = bar_h + pad + max(content_h, icon) + pad + 32 * s + 16 * s + 8 * s
    M = 28 * s
    wall = [(58, 110, 165), (34, 60, 90), (90, 120, 110), (120, 95, 140)][rng.randrange(4)]
    img = Image.new("RGB", (W + 2 * M, H + 2 * M), wall)
    d = ImageDraw.Draw(img)
    d.rectangle([M + 3 * s, M + 4 * s, M + W + 3 * s, M + H + 4 * s],
                fill=tuple(c // 2 for c in wall))  # shadow
    d.rectangle([M, M, M + W, M + H], fill=bg, outline=(80, 80, 80) if dark else (110, 110, 110))
    d.rectangle([M, M, M + W, M + bar_h], fill=bar)
    # title bar: the app's name, and the window buttons (mirrored for right-to-left)
    name_x = M + 12 * s
    if rtl:
        draw_text(d, (M, M + 7 * s), APP[case.set], lang, small, barfg, align="right",
                  width=W - 12 * s)
    else:
        draw_text(d, (name_x, M + 7 * s), APP[case.set], lang, small, barfg)
    cx = M + 16 * s if rtl else M + W - 28 * s
    d.line([cx, M + 11 * s, cx + 10 * s, M + 21 * s], fill=barfg, width=max(1, s))
    d.line([cx, M + 21 * s, cx + 10 * s, M + 11 * s], fill=barfg, width=max(1, s))
    # icon: a red circle with an exclamation mark drawn as shapes
    ix = M + W - pad - icon if rtl else M + pad
    iy = M + bar_h + pad
    d.ellipse([ix, iy, ix + icon, iy + icon], fill=(196, 43, 28))
    c = ix + icon // 2
    d.rounded_rectangle([c - 2 * s, iy + 8 * s, c + 2 * s, iy + 22 * s], radius=s, fill="white")
    d.ellipse([c - 2 * s, iy + 25 * s, c + 2 * s, iy + 29 * s], fill="white")
    tx = M + pad + icon + pad
    tw = W - 3 * pad - icon
    if rtl:
        tx = M + pad
    y = iy - 2 * s
    for text, size, bold, colour in ([(t, head, True, fg) for t in title]
                                     + [("", 6 * s, False, fg)]
                                     + [(t, body, False, fg) for t in lines]
                                     + ([("", 6 * s, False, fg)] if code else [])
                                     + [(t, small, False, muted) for t in code]):
        if text:
            draw_text(d, (tx, y), text, lang, size, colour, bold, "right" if rtl else "left", tw)
            y += line_height(lang, size)
        else:
            y += size
    # the button, bottom right (bottom left for right-to-left)
    by = M + H - 16 * s - 32 * s
    bx = M + pad if rtl else M + W - pad - bw
    if dark:  # an accent-filled default button with white text
        d.rounded_rectangle([bx, by, bx + bw, by + 32 * s], radius=4 * s, fill=btn)
    else:     # Windows' light button, its accent border marking the default
        btnfg = fg
        d.rounded_rectangle([bx, by, bx + bw, by + 32 * s], radius=4 * s, fill=(229, 229, 229),
                            outline=btn, width=max(1, s))
    draw_text(d, (bx, by + (32 * s - line_height(lang, body)) // 2), case.button, lang,
              body, btnfg, align="center", width=bw)
    return img


def phone(case: Case, scale: int = 2) -> Image.Image:
    """A phone app screen: status bar, app bar, dimmed content and a card with the message."""
    s, lang, rtl, rng = scale, case.language, case.language in RTL, _rng(case)
    accent = ACCENT[case.set]
    W, H = 360 * s, 740 * s
    img = Image.new("RGB", (W, H), (244, 244, 246))
    d = ImageDraw.Draw(img)
    # status bar and app bar
    d.rectangle([0, 0, W, 24 * s], fill=tuple(int(c * 0.8) for c in accent))
    draw_text(d, (12 * s, 4 * s), CLOCK, "en", 12 * s, "white", align="right" if rtl else "left",
              width=W - 24 * s)
    ox = 14 * s if rtl else W - 60 * s
    d.polygon([(ox, 18 * s), (ox + 14 * s, 18 * s), (ox + 14 * s, 6 * s)], fill="white")
    d.rounded_rectangle([ox + 22 * s, 7 * s, ox + 40 * s, 17 * s], radius=2 * s, outline="white",
                        width=max(1, s))
    d.rectangle([ox + 24 * s, 9 * s, ox + 34 * s, 15 * s], fill="white")
    d.rectangle([0, 24 * s, W, 80 * s], fill=accent)
    draw_text(d, (56 * s, 38 * s), APP[case.set], lang, 20 * s, "white", bold=True,
              align="right" if rtl else "left", width=W - 112 * s)
    ax = W - 30 * s if rtl else 20 * s
    for k in range(3):
        d.rectangle([ax, 44 * s + k * 6 * s, ax + 16 * s, 46 * s + k * 6 * s], fill="white")
    # some list items behind the card
    y = 96 * s
    while y < H - 60 * s:
        d.rounded_rectangle([12 * s, y, W - 12 * s, y + 64 * s], radius=10 * s, fill="white")
        d.ellipse([24 * s, y + 14 * s, 60 * s, y + 50 * s], fill=(210, 214, 220))
        d.rounded_rectangle([72 * s, y + 18 * s, 72 * s + rng.randrange(120, 220) * s, y + 28 * s],
                            radius=4 * s, fill=(220, 222, 226))
        d.rounded_rectangle([72 * s, y + 38 * s, 72 * s + rng.randrange(80, 180) * s, y + 46 * s],
                            radius=4 * s, fill=(232, 233, 236))
        y += 76 * s
    img = Image.blend(img, Image.new("RGB", img.size, (0, 0, 0)), 0.45)
    d = ImageDraw.Draw(img)
    # the card
    cw, pad = W - 48 * s, 22 * s
    inner = cw - 2 * pad
    head, body, small = 19 * s, 15 * s, 12 * s
    title = wrap(case.title, lang, head, inner, bold=True)
    lines = [w for line in case.lines for w in wrap(line, lang, body, inner)]
    code = wrap(case.code, lang, small, inner) if case.code else []
    button = wrap(case.button, lang, body, inner - 24 * s, bold=True)
    ch = (pad + 44 * s + 14 * s + len(title) * line_height(lang, head) + 8 * s
          + len(lines) * line_height(lang, body) + (8 * s + len(code) * line_height(lang, small)
                                                    if code else 0)
          + 20 * s + 12 * s * 2 + len(button) * line_height(lang, body) + pad)
    cx, cy = 24 * s, (H - ch) // 2
    d.rounded_rectangle([cx, cy, cx + cw, cy + ch], radius=18 * s, fill="white")
    ic = cx + cw // 2
    d.ellipse([ic - 22 * s, cy + pad, ic + 22 * s, cy + pad + 44 * s], fill=(253, 236, 200))
    d.polygon([(ic, cy + pad + 9 * s), (ic - 13 * s, cy + pad + 33 * s),
               (ic + 13 * s, cy + pad + 33 * s)], fill=(230, 140, 0))
    d.rectangle([ic - s, cy + pad + 17 * s, ic + s, cy + pad + 26 * s], fill="white")
    d.rectangle([ic - s, cy + pad + 28 * s, ic + s, cy + pad + 30 * s], fill="white")
    y = cy + pad + 44 * s + 14 * s
    for t in title:
        draw_text(d, (cx + pad, y), t, lang, head, (20, 20, 20), True, "center", inner)
        y += line_height(lang, head)
    y += 8 * s
    for t in lines:
        draw_text(d, (cx + pad, y), t, lang, body, (60, 60, 64), False, "center", inner)
        y += line_height(lang, body)
    if code:
        y += 8 * s
        for t in code:
            draw_text(d, (cx + pad, y), t, lang, small, (120, 120, 126), False, "center", inner)
            y += line_height(lang, small)
    y += 20 * s
    bh = 12 * s * 2 + len(button) * line_height(lang, body)
    d.rounded_rectangle([cx + pad, y, cx + cw - pad, y + bh], radius=bh // 2 if len(button) == 1
                        else 14 * s, fill=accent)
    y += 12 * s
    for t in button:
        draw_text(d, (cx + pad, y), t, lang, body, "white", True, "center", inner)
        y += line_height(lang, body)
    return img


def toast(case: Case, scale: int = 1) -> Image.Image:
    """A notification banner: the app's icon and name, the title, the message and an action."""
    s, lang, rtl, rng = scale, case.language, case.language in RTL, _rng(case)
    accent = ACCENT[case.set]
    dark = rng.random() < 0.4
    bg, fg, muted = ((48, 48, 52), (240, 240, 240), (175, 175, 180)) if dark else \
        ((255, 255, 255), (28, 28, 30), (110, 110, 116))
    W, pad = 400 * s, 14 * s
    inner = W - 3 * pad - 28 * s
    head, body, small = 14 * s, 13 * s, 11 * s
    title = wrap(case.title, lang, head, inner, bold=True)
    lines = [w for line in case.lines for w in wrap(line, lang, body, inner)]
    code = wrap(case.code, lang, small, inner) if case.code else []
    H = (pad + line_height(lang, small) + 4 * s + len(title) * line_height(lang, head)
         + (len(lines) + len(code)) * line_height(lang, body) + 8 * s + line_height(lang, body)
         + pad)
    M = 10 * s
    img = Image.new("RGB", (W + 2 * M, H + 2 * M), (200, 205, 212) if not dark else (20, 22, 26))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([M, M, M + W, M + H], radius=14 * s, fill=bg)
    ix = M + W - pad - 28 * s if rtl else M + pad
    d.ellipse([ix, M + pad, ix + 28 * s, M + pad + 28 * s], fill=accent)
    d.ellipse([ix + 9 * s, M + pad + 9 * s, ix + 19 * s, M + pad + 19 * s], fill="white")
    tx = M + pad if rtl else M + 2 * pad + 28 * s
    align = "right" if rtl else "left"
    y = M + pad
    draw_text(d, (tx, y), APP[case.set], lang, small, muted, False, align, inner)
    y += line_height(lang, small) + 4 * s
    for t in title:
        draw_text(d, (tx, y), t, lang, head, fg, True, align, inner)
        y += line_height(lang, head)
    for t in lines:
        draw_text(d, (tx, y), t, lang, body, fg, False, align, inner)
        y += line_height(lang, body)
    for t in code:
        draw_text(d, (tx, y), t, lang, small, muted, False, align, inner)
        y += line_height(lang, body)
    y += 8 * s
    draw_text(d, (tx, y), case.button, lang, body, accent if not dark else (130, 190, 255), True,
              align, inner)
    return img


def photo(case: Case) -> Image.Image:
    """A phone photo of a monitor showing the dialog: bezel, tilt and rotation, blur, uneven
    light, noise (the caller saves it as JPEG quality 60)."""
    import numpy as np

    rng = _rng(case)
    screen = dialog(case, scale=2)
    # the monitor: the screen in a dark bezel, on a dim room background
    b = 26
    mon = Image.new("RGB", (screen.width + 2 * b, screen.height + 2 * b), (22, 22, 24))
    mon.paste(screen, (b, b))
    room = Image.new("RGB", (mon.width + 160, mon.height + 160),
                     tuple(rng.randrange(60, 110) for _ in range(3)))
    room.paste(mon, (80, 80))
    # a slight perspective: one side nearer the camera
    w, h = room.size
    k = rng.uniform(0.02, 0.04) * (1 if rng.random() < 0.5 else -1)
    dy = h * abs(k)
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = ([(0, dy), (w, 0), (w, h), (0, h - dy)] if k > 0 else
           [(0, 0), (w, dy), (w, h - dy), (0, h)])
    room = room.transform(room.size, Image.Transform.PERSPECTIVE, _coeffs(dst, src),
                          Image.Resampling.BICUBIC, fillcolor=room.getpixel((2, 2)))
    angle = rng.uniform(2, 5) * (1 if rng.random() < 0.5 else -1)
    room = room.rotate(angle, Image.Resampling.BICUBIC, expand=False,
                       fillcolor=room.getpixel((2, 2)))
    room = room.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 1.5)))
    # uneven light: brighter towards one corner; then sensor noise
    a = np.asarray(room, dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gx, gy = rng.uniform(-1, 1), rng.uniform(-1, 1)
    ramp = (xx / w - 0.5) * gx + (yy / h - 0.5) * gy
    light = 0.92 + 0.3 * ramp
    nrng = np.random.default_rng(rng.randrange(2 ** 32))
    a = a * light[..., None] + nrng.normal(0, 7, a.shape[:2])[..., None] \
        + nrng.normal(0, 3, a.shape)
    a = np.clip(a, 0, 255).astype(np.uint8)
    img = Image.fromarray(a, "RGB")
    # phones send a downscaled picture
    return img.resize((int(w * 0.7), int(h * 0.7)), Image.Resampling.LANCZOS)


def _coeffs(dst, src):
    """PERSPECTIVE coefficients mapping output points `dst` to input points `src`."""
    import numpy as np

    rows = []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return tuple(np.linalg.solve(np.array(rows, dtype=float),
                                 np.array([c for p in src for c in p], dtype=float)))


def image(case: Case) -> Image.Image:
    """The case's picture as a Pillow image."""
    if case.language in RTL and not features.check("raqm"):
        raise RuntimeError("Pillow was built without raqm (libraqm), so Arabic cannot be shaped; "
                           "install the Debian package libraqm0")
    if case.variant == "dialog":
        return dialog(case)
    if case.variant == "dark":
        return dialog(case, dark=True)
    if case.variant == "hidpi":
        return dialog(case, scale=2)
    if case.variant == "phone":
        return phone(case)
    if case.variant == "photo":
        return photo(case)
    return toast(case)


def render(case: Case) -> bytes:
    """The case's picture: PNG, or JPEG (quality 60) for a photo; the same bytes every time."""
    img, out = image(case), io.BytesIO()
    if case.variant == "photo":
        img.save(out, "JPEG", quality=60)
    else:
        img.save(out, "PNG", optimize=True)
    return out.getvalue()


def extension(case: Case) -> str:
    return "jpg" if case.variant == "photo" else "png"


def no_text(seed: str = "kettle") -> bytes:
    """A phone photo with nothing to read: a kettle-like shape on a kitchen counter (gradient,
    blur, noise; no letters), JPEG quality 60."""
    import numpy as np

    rng = random.Random(seed)
    W, H = 640, 480
    img = Image.new("RGB", (W, H))
    d = ImageDraw.Draw(img)
    for y in range(H):  # wall, then the counter
        t = y / H
        d.line([0, y, W, y], fill=(int(200 - 40 * t), int(190 - 45 * t), int(175 - 50 * t))
               if y < 300 else (int(120 - 30 * t), int(100 - 25 * t), int(80 - 20 * t)))
    cx = 300 + rng.randrange(-20, 20)
    d.ellipse([cx - 130, 330, cx + 130, 370], fill=(70, 60, 50))  # shadow
    d.rounded_rectangle([cx - 110, 150, cx + 110, 355], radius=60, fill=(165, 170, 178))
    d.rounded_rectangle([cx - 80, 165, cx - 40, 340], radius=18, fill=(205, 210, 216))  # shine
    d.polygon([(cx - 110, 200), (cx - 175, 170), (cx - 165, 195), (cx - 110, 235)],
              fill=(150, 155, 162))  # spout
    d.arc([cx + 70, 170, cx + 190, 320], -80, 80, fill=(40, 40, 44), width=22)  # handle
    d.rounded_rectangle([cx - 120, 130, cx + 120, 160], radius=12, fill=(45, 45, 50))  # lid
    d.rounded_rectangle([cx - 125, 345, cx + 125, 372], radius=8, fill=(35, 35, 38))  # base
    img = img.filter(ImageFilter.GaussianBlur(2.2))
    a = np.asarray(img, dtype=np.float32)
    nrng = np.random.default_rng(rng.randrange(2 ** 32))
    a = np.clip(a + nrng.normal(0, 9, a.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(a, "RGB").save(out, "JPEG", quality=60)
    return out.getvalue()


# --- fixtures ------------------------------------------------------------------------------------

#: the committed test pictures: file name, case id (None: no_text())
FIXTURES = [("es-dialog-offline.png", "kettle-es-offline"),
            ("de-dialog-wifi.png", "kettle-de-wifi"),
            ("ja-dialog-offline.png", "kettle-ja-offline"),
            ("ja-phone-wifi.png", "kettle-ja-wifi"),
            ("de-photo-delivery.jpg", "kettle-de-delivery"),
            ("no-text.jpg", None)]
FIXTURE_LIMIT = 40_000


def fixture_bytes(case: Case) -> bytes:
    """A case's picture small enough to commit: photos as render() makes them; screens as a
    PNG with a 64-colour palette (text edges keep their anti-aliasing)."""
    if case.variant == "photo":
        return render(case)
    out = io.BytesIO()
    image(case).quantize(64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, "PNG", optimize=True)
    return out.getvalue()


def write_fixtures(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    cases = {c.id: c for c in load_cases("kettle")}
    rows = []
    for name, case_id in FIXTURES:
        data = fixture_bytes(cases[case_id]) if case_id else no_text()
        if len(data) > FIXTURE_LIMIT:
            raise SystemExit(f"{name} is {len(data)} bytes, over {FIXTURE_LIMIT}")
        (folder / name).write_bytes(data)
        case = cases.get(case_id)
        rows.append((name, len(data), case))
        print(f"{folder / name}: {len(data)} bytes")
    lines = [
        "# Screenshots for the tests",
        "",
        "Pictures a customer might send with a message, drawn by `bench/screenshots.py` from the",
        "cases in `bench/screenshots/kettle.yaml` (the sample knowledge: the Kettlebird kettle).",
        "Screens are saved as PNG with a 64-colour palette, the photo as JPEG quality 60, so each",
        "stays under 40 kB and the tests need no fonts.",
        "",
        "| file | case | language | variant | expected section | caption |",
        "|---|---|---|---|---|---|",
    ]
    for name, size, case in rows:
        if case is None:
            lines.append(f"| `{name}` | none: `no_text()` | – | photo | none: nothing to read, "
                         "a kettle-like shape on a counter, no letters | – |")
        else:
            lines.append(f"| `{name}` | `{case.id}` | {case.language} | {case.variant} | "
                         f"`{case.file} › {case.section}` | {case.caption} |")
    lines += ["", "The text on each picture, in reading order (`truth(case)`):", ""]
    for name, size, case in rows:
        if case is not None:
            lines += [f"`{name}`:", "", "```", truth(case), "```", ""]
    lines += [
        "Regenerate (needs `fonts-noto-core fonts-noto-cjk fonts-noto-ui-core` and Pillow with",
        "raqm):",
        "",
        "```",
        "python bench/screenshots.py --fixtures tests/data/screenshots",
        "```",
        "",
    ]
    (folder / "README.md").write_text("\n".join(lines), "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--write", type=Path, metavar="DIR",
                        help="write every case's picture to DIR")
    parser.add_argument("--check", action="store_true",
                        help="check that every expected section is in its knowledge")
    parser.add_argument("--fixtures", type=Path, metavar="DIR",
                        help="write the test pictures and their README to DIR")
    args = parser.parse_args(argv)
    if args.fixtures:
        write_fixtures(args.fixtures)
        return 0
    cases = []
    for name in args.sets.split(","):
        found = load_cases(name)
        cases += found
        if args.check:
            problems = check_sections(name, found)
            for problem in problems:
                print(problem, file=sys.stderr)
            if problems:
                return 1
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        for case in cases:
            (args.write / f"{case.id}.{extension(case)}").write_bytes(render(case))
    for key in ("set", "language", "script", "variant"):
        counts = Counter(getattr(c, key) for c in cases)
        print(table([key, "cases"], [[k, n] for k, n in sorted(counts.items())]), end="\n\n")
    print(f"{len(cases)} cases" + (f", pictures in {args.write}" if args.write else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
