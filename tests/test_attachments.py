"""Files customers send: safe download, what the bytes are, decompression bombs, OCR, and the
pipeline answering a screenshot: real Tesseract, real Pillow, real langdetect, a real HTTP
server on 127.0.0.1 for downloads."""

from __future__ import annotations

import io
import logging

import pytest
from aiohttp import web
from helpers import ROOT, message, serve

from bot.attachments import (AttachmentReader, Refusal, decode_text, download, open_image,
                             sniff)
from bot.config import AttachmentConfig, Config
from bot.core import open_core
from bot.message import Attachment
from bot.ocr import TextReader

SHOTS = ROOT / "tests" / "data" / "screenshots"
TOKEN = "xoxb-secret-token-for-files"


def draw(lines: list[str], size: int = 22, width: int = 640) -> bytes:
    """A plain error dialog with Pillow's own font (Latin only: no system fonts needed)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size)
    image = Image.new("RGB", (width, 60 + 40 * len(lines)), (245, 245, 245))
    pen = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        pen.text((24, 24 + 40 * i), line, fill=(20, 20, 20), font=font)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def noise(width: int = 300, height: int = 200) -> bytes:
    """A picture with no text at all: a smooth gradient."""
    from PIL import Image

    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def reader() -> TextReader:
    config = Config()
    detector = config.make_detector()
    return TextReader(config.languages, "en", detector.probabilities)


#: Spanish without accents: Pillow's own font has no "ó"
SPANISH = ["Error de red", "El hervidor no puede conectarse a la red Wi-Fi.",
           "Esta red es de 5 GHz. Use una red de 2,4 GHz."]


# -- what a file is, by its bytes --

def test_sniff_tells_files_by_their_bytes_not_their_names():
    assert sniff(draw(["x"])) == "PNG"
    assert sniff(noise()) == "JPEG"
    assert sniff(b"RIFF\x10\x00\x00\x00WEBPVP8 ") == "WEBP"
    assert sniff(b"GIF89a\x01\x00") == "GIF"
    assert sniff(b"\x00\x00\x00\x18ftypheic\x00\x00") == "HEIC"
    assert sniff(b"%PDF-1.7\n%\xe2\xe3") == "PDF"
    assert sniff(b"PK\x03\x04\x14\x00") == "ZIP or Office document"
    assert sniff("2026-12-05 ERROR sync failed: token expired\n".encode()) == "text"
    assert sniff('{"error": "Gerät offline", "code": 503}'.encode()) == "text"
    assert sniff(bytes(range(256)) * 4) == "binary"


def test_decode_text_reads_utf8_and_utf16_and_refuses_binary():
    assert decode_text("naïve café\n".encode()) == "naïve café\n"
    assert decode_text("ошибка".encode("utf-16")) == "ошибка"
    # A character cut by the size limit is dropped, not an error.
    assert decode_text("日本語".encode()[:-1]) == "日本"
    assert decode_text(b"\x00\x01\x02\x03text") is None
    assert decode_text(bytes(range(1, 32)) * 10) is None


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")  # 400 megapixels in a small file
    assert len(out.getvalue()) < 200_000
    with pytest.raises(Refusal) as refused:
        open_image(out.getvalue(), 40_000_000)
    assert refused.value.key == "attachment_too_large"
    with pytest.raises(Refusal) as broken:
        open_image(draw(["x"])[:100], 40_000_000)
    assert broken.value.key == "attachment_unreadable"


# -- downloads --

@pytest.fixture
async def files():
    """A file server that wants the bot token, as Slack's url_private does."""
    seen = []
    big = b"\x89PNG\r\n\x1a\n" + b"0" * (3 * 1024 * 1024)

    async def private(request):
        seen.append(dict(request.headers))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            # Slack answers a request without the token with its sign-in page.
            return web.Response(text="<html>sign in</html>", content_type="text/html")
        return web.Response(body=draw(SPANISH), content_type="image/png")

    async def streamed(request):
        response = web.StreamResponse()  # no Content-Length: the limit counts what arrives
        await response.prepare(request)
        for i in range(0, len(big), 65536):
            await response.write(big[i:i + 65536])
        return response

    app = web.Application()
    app.router.add_get("/private/shot.png", private)
    async def whole(request):
        return web.Response(body=big)

    app.router.add_get("/big.png", whole)
    app.router.add_get("/streamed.png", streamed)
    runner, base = await serve(app)
    yield base, seen
    await runner.cleanup()


async def test_download_sends_the_token_and_stops_at_the_size_limit(files):
    base, seen = files
    auth = (("Authorization", f"Bearer {TOKEN}"),)
    data = await download(Attachment("shot.png", f"{base}/private/shot.png", headers=auth),
                          10 * 1024 * 1024)
    assert sniff(data) == "PNG" and seen[-1]["Authorization"] == f"Bearer {TOKEN}"
    with pytest.raises(Refusal) as page:
        await download(Attachment("shot.png", f"{base}/private/shot.png"), 10 * 1024 * 1024)
    assert page.value.key == "attachment_failed"
    for name in ("big.png", "streamed.png"):
        with pytest.raises(Refusal) as big:
            await download(Attachment(name, f"{base}/{name}"), 1024 * 1024)
        assert big.value.key == "attachment_too_large", name
    # The size the platform gives is checked before anything is fetched.
    count = len(seen)
    with pytest.raises(Refusal):
        await download(Attachment("shot.png", f"{base}/private/shot.png", size=11 * 2 ** 20,
                                  headers=auth), 10 * 1024 * 1024)
    assert len(seen) == count
    with pytest.raises(Refusal) as missing:
        await download(Attachment("gone.png", f"{base}/gone.png"), 1024)
    assert missing.value.key == "attachment_failed"


async def test_the_token_is_never_logged(files, caplog):
    caplog.set_level(logging.DEBUG)
    base, _ = files
    attachment = Attachment("shot.png", f"{base}/private/shot.png",
                            headers=(("Authorization", f"Bearer {TOKEN}"),))
    reading = await AttachmentReader(AttachmentConfig(), reader()).read_one(attachment)
    assert "conectarse a la red Wi-Fi" in reading.text
    assert TOKEN not in repr(attachment)
    assert TOKEN not in caplog.text


# -- reading --

def test_ocr_reads_a_spanish_dialog_without_being_told_its_language():
    from PIL import Image

    reading = reader().read(Image.open(io.BytesIO(draw(SPANISH))))
    assert reading.script == "Latin"
    assert "spa" in reading.models
    assert "Error de red" in reading.text
    assert "2,4 GHz" in reading.text


#: the committed screenshots (tests/data/screenshots/README.md): language, words on them, the
#: sample article that answers them
SCREENSHOTS = {
    "es-dialog-offline.png": ("es", ["Dispositivo sin conexión", "E-201"],
                              "es/problemas.md"),
    "de-dialog-wifi.png": ("de", ["Verbindung fehlgeschlagen", "2,4 GHz"],
                           "de/fehlerbehebung.de.md"),
    "ja-dialog-offline.png": ("ja", ["デバイスがオフラインです", "KB-2"],
                              "ja/troubleshooting.md"),
    "ja-phone-wifi.png": ("ja", ["Wi-Fi", "5 GHz"], "ja/troubleshooting.md"),
    "de-photo-delivery.jpg": ("de", ["Zustellung fehlgeschlagen"], "de/versand.de.md"),
}


@pytest.mark.parametrize("name", sorted(SCREENSHOTS))
def test_ocr_reads_the_committed_screenshots_without_being_told_their_language(name):
    from PIL import Image

    language, words, _ = SCREENSHOTS[name]
    reading = reader().read(Image.open(SHOTS / name))
    assert all(word in reading.text for word in words), reading.text
    assert reader().detect_language(reading.text).get(language, 0) > 0.5, reading.text


def test_a_picture_without_text_reads_as_nothing():
    from PIL import Image

    assert reader().read(Image.open(SHOTS / "no-text.jpg")).text.strip() == ""


async def test_text_files_are_read_up_to_the_limit_and_binaries_refused():
    files = AttachmentReader(AttachmentConfig(text_kb=1), reader())
    log_text = ("2026-12-05 10:00:01 ERROR kettle KB-2: device offline\n" * 40).encode()
    read = await files.read_one(Attachment("app.log", data=log_text))
    assert read.kind == "text" and read.cut and len(read.text) <= 1024
    assert read.text.startswith("2026-12-05 10:00:01 ERROR kettle KB-2: device offline")
    pdf = await files.read_one(Attachment("manual.txt", data=b"%PDF-1.7\n" + b"x" * 100))
    assert pdf.refusal == "attachment_unsupported"
    blank = await files.read_one(Attachment("kettle.jpg", data=noise()))
    assert blank.refusal == "attachment_unreadable"
    big = await AttachmentReader(AttachmentConfig(max_mb=0.001), None).read_one(
        Attachment("shot.png", data=draw(SPANISH)))
    assert big.refusal == "attachment_too_large"


# -- the pipeline --

@pytest.fixture
def scripted_core(write_config, scripted):
    core = open_core(write_config(), engine=scripted)
    yield core
    core.close()


def with_files(text: str, *attachments: Attachment, **where):
    base = message(text, **where)
    return type(base)(**{**base.__dict__, "attachments": attachments})


async def test_a_screenshot_alone_finds_its_article_in_the_customers_language(
        scripted_core, scripted):
    answer = await scripted_core.pipeline.respond(
        with_files("", Attachment("error.png", data=draw(SPANISH))))
    assert answer.kind == "answer", answer
    assert answer.language == "es"
    assert any(s.heading and "Wi-Fi" in s.heading for s in answer.sources), answer.sources
    prompt = scripted.calls[-1][1][-1]["content"]
    assert "[Text read from the customer's image \"error.png\"]" in prompt
    assert "conectarse a la red Wi-Fi" in prompt
    turns = scripted_core.history.recent(message("").key, 2)
    assert "conectarse a la red Wi-Fi" in turns[0].text  # the history keeps what was read


async def test_refused_files_are_told_in_the_customers_language(scripted_core):
    pipeline = scripted_core.pipeline
    blank = await pipeline.respond(with_files("", Attachment("foto.jpg", data=noise()),
                                              channel="C2", locale="de-DE"))
    assert blank.kind == "attachment_refused"
    assert blank.text == pipeline.texts.get("attachment_unreadable", "de").replace(
        "{name}", "foto.jpg")
    # With a question typed beside it, the question is answered and the file's fate said.
    both = await pipeline.respond(with_files(
        "¿Cómo restablezco mi contraseña?",
        Attachment("captura.heic", data=b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64),
        channel="C3"))
    assert both.kind == "answer" and both.language == "es"
    assert "captura.heic" in both.notice and "PNG" in both.notice
    big = await pipeline.respond(with_files("", Attachment(
        "screen.png", url="https://files.example.invalid/x.png", size=50 * 2 ** 20),
        channel="C4"))
    assert big.kind == "attachment_refused" and "10 MB" in big.text
    metrics = pipeline.metrics.render().decode()
    assert 'babeldesk_attachments_total{kind="file",outcome="attachment_too_large"} 1.0' \
        in metrics
    assert 'babeldesk_attachments_total{kind="file",outcome="attachment_unreadable"} 1.0' \
        in metrics


async def test_a_pasted_log_joins_the_question(scripted_core, scripted):
    log_text = b"12:00:01 app: kettle KB-2 state=DEVICE OFFLINE, router unreachable\n"
    answer = await scripted_core.pipeline.respond(with_files(
        "the app keeps saying this", Attachment("kettlebird.log", data=log_text),
        channel="C5"))
    assert answer.kind == "answer" and answer.language == "en"
    assert any("offline" in (s.heading or "").lower() for s in answer.sources), answer.sources
    assert "[The customer's file \"kettlebird.log\"]" in scripted.calls[-1][1][-1]["content"]
    kind, first, seconds = scripted_core.history.db.execute(
        "SELECT kind, first_token, seconds FROM turns WHERE id = ?", [answer.turn_id]).fetchone()
    assert kind == "answer" and 0 < first <= seconds  # the first words went out as written


async def test_attachments_off_ignore_files(write_config, scripted):
    core = open_core(write_config(attachments={"enabled": False}), engine=scripted)
    try:
        answer = await core.pipeline.respond(
            with_files("", Attachment("error.png", data=draw(SPANISH))))
        assert answer.kind == "empty"
    finally:
        core.close()


def test_check_names_the_missing_tesseract_packs(write_config, model_path, tmp_path):
    import os
    import subprocess
    import sys

    config = write_config(model={"source": "path", "path": str(model_path)},
                          languages=["en", "de", "ja"])
    run = lambda env: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "bot.cli", "check", "--no-load"], capture_output=True, text=True,
        env={**os.environ, "BABELDESK_CONFIG": str(config.origin), **env}, timeout=300)
    good = run({})
    assert "ocr        ok: Tesseract models for 3 languages" in good.stdout, good.stdout
    (tmp_path / "tessdata").mkdir()
    for name in ("eng", "osd"):
        (tmp_path / "tessdata" / f"{name}.traineddata").write_bytes(
            (TextReader([]).tessdata / f"{name}.traineddata").read_bytes())
    bad = run({"TESSDATA_PREFIX": str(tmp_path / "tessdata")})
    assert bad.returncode == 1
    assert ("ocr        FAIL: no Tesseract model for deu, jpn in "
            f"{tmp_path / 'tessdata'}: apt-get install tesseract-ocr-deu tesseract-ocr-jpn"
            ) in bad.stdout, bad.stdout


@pytest.mark.model
@pytest.mark.parametrize("name", ["es-dialog-offline.png", "de-dialog-wifi.png",
                                  "ja-dialog-offline.png"])
async def test_the_model_answers_a_screenshot_sent_alone_in_its_language(core, name):
    language, _, article = SCREENSHOTS[name]
    answer = await core.pipeline.respond(with_files(
        "", Attachment(name, data=(SHOTS / name).read_bytes()), channel=f"C-{name}"))
    assert answer.kind == "answer", answer
    assert answer.language == language
    assert article in [s.path for s in answer.sources], answer.sources
    assert core.pipeline.detector.detect_document(answer.text) == language, answer.text


async def test_a_screenshot_in_another_script_than_the_conversation_is_read_in_its_own(
        scripted_core, scripted):
    pipeline = scripted_core.pipeline
    await pipeline.respond(message("How do I descale my kettle?", channel="C-mixed"))
    answer = await pipeline.respond(with_files(
        "", Attachment("shot.png", data=(SHOTS / "ja-dialog-offline.png").read_bytes()),
        channel="C-mixed"))
    assert answer.kind == "answer", answer
    assert "デバイスがオフラインです" in scripted.calls[-1][1][-1]["content"]
