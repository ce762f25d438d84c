"""Files customers send with a message: downloaded safely, then read as text.

A screenshot is read by OCR (bot/ocr.py), and handed to the model as well when it reads
images; a text file (a log, a JSON or CSV export) is read like pasted text, its first
`attachments.text_kb`. What a file is, is told by its bytes, never by its name or the type the
platform reports. Nothing is written to disk. Every refusal has a localised text for the
customer (`attachment_too_large`, `attachment_unsupported`, `attachment_unreadable`,
`attachment_failed`).
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence
from urllib.parse import urlsplit

from .config import AttachmentConfig
from .message import Attachment
from .ocr import Reading, TextReader

log = logging.getLogger(__name__)

#: image formats babeldesk decodes, by their first bytes
IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"),
               (b"GIF89a", "GIF"), (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
#: what a few well-known files that are neither are, for the log
OTHER_MAGIC = ((b"%PDF", "PDF"), (b"PK\x03\x04", "ZIP or Office document"),
               (b"\x1f\x8b", "gzip"), (b"\x7fELF", "program"), (b"MZ", "Windows program"))
#: a text file may hold this share of control characters (other than tab, newline, …) at most
MAX_CONTROL_SHARE = 0.01
#: seconds a download may take
DOWNLOAD_SECONDS = 30.0


class Refusal(Exception):
    """A file babeldesk will not read; `key` names the text that tells the customer why."""

    def __init__(self, key: str, why: str):
        super().__init__(why)
        self.key = key


@dataclass
class FileReading:
    """One attachment, read: its text, or the reason it could not be."""

    name: str
    #: image or text; "" when refused
    kind: str = ""
    text: str = ""
    #: the image's bytes, for a model that reads images (PNG or JPEG as sent)
    image: bytes = field(default=b"", repr=False)
    image_type: str = ""
    #: the text key of the refusal, when refused
    refusal: str = ""
    ocr: Reading | None = None
    #: the text file was longer than text_kb
    cut: bool = False

    @property
    def data_url(self) -> str:
        return f"data:{self.image_type};base64,{base64.b64encode(self.image).decode('ascii')}"


def sniff(data: bytes) -> str:
    """What the bytes are: an image format (PNG, JPEG, GIF, WEBP, BMP, TIFF), "text", or a
    description of something else."""
    for magic, name in IMAGE_MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return "HEIC"
    for magic, name in OTHER_MAGIC:
        if data.startswith(magic):
            return name
    return "text" if decode_text(data[:4096]) is not None else "binary"


def decode_text(data: bytes) -> str | None:
    """The bytes as text (UTF-8, or UTF-16 with its byte-order mark), or None when they are
    not text. A character cut at the end of `data` is dropped."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="ignore")
    elif b"\x00" in data:
        return None
    else:
        text = data.decode("utf-8", errors="replace")
        if text.endswith("\ufffd"):
            text = text.rstrip("\ufffd")
        if text.count("\ufffd") > max(1, len(text) * MAX_CONTROL_SHARE):
            return None
    text = text.lstrip("\ufeff")
    control = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v\x1b")
    if control > len(text) * MAX_CONTROL_SHARE:
        return None
    return text


def open_image(data: bytes, max_pixels: int):
    """The decoded image (first frame, turned as its EXIF says), or `Refusal`. Its pixels are
    counted from the header before anything is decoded: a small file that decodes to
    gigabytes is refused."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise Refusal("attachment_too_large",
                              f"{width}×{height} pixels, over the {max_pixels} allowed")
            image.load()
            return ImageOps.exif_transpose(image)
    except Refusal:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Refusal("attachment_too_large", str(exc)) from None
    except (OSError, ValueError, SyntaxError, Image.UnidentifiedImageError) as exc:
        raise Refusal("attachment_unreadable", f"the image does not decode: {exc}") from None


async def download(attachment: Attachment, max_bytes: int,
                   timeout: float = DOWNLOAD_SECONDS) -> bytes:
    """The file's bytes, never more than `max_bytes` of them read."""
    if attachment.data:
        if len(attachment.data) > max_bytes:
            raise Refusal("attachment_too_large", f"{len(attachment.data)} bytes")
        return attachment.data
    if attachment.size and attachment.size > max_bytes:
        raise Refusal("attachment_too_large", f"{attachment.size} bytes, as the platform says")
    if urlsplit(attachment.url).scheme not in ("http", "https"):
        raise Refusal("attachment_failed", "the file has no http(s) address")
    import aiohttp

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            # aiohttp drops the Authorization header when a redirect leaves the host.
            async with session.get(attachment.url, headers=dict(attachment.headers)) as response:
                if response.status != 200:
                    raise Refusal("attachment_failed", f"the download answered {response.status}")
                if response.content_type == "text/html" and not attachment.name.lower().endswith(
                        (".html", ".htm")):
                    # Slack answers a request without a valid token with its sign-in page.
                    raise Refusal("attachment_failed", "the download answered with a web page, "
                                  "not the file (does the bot token have files:read?)")
                if response.content_length and response.content_length > max_bytes:
                    raise Refusal("attachment_too_large", f"{response.content_length} bytes")
                data = bytearray()
                async for chunk in response.content.iter_chunked(65536):
                    data += chunk
                    if len(data) > max_bytes:
                        raise Refusal("attachment_too_large", f"over {max_bytes} bytes")
                return bytes(data)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise Refusal("attachment_failed", f"the download failed: {exc!r}") from None


class AttachmentReader:
    """Reads a message's attachments: downloads, checks and OCR, off the event loop."""

    def __init__(self, config: AttachmentConfig, reader: TextReader | None):
        self.config = config
        #: None: OCR is off or cannot run here; images are then only for a model that reads
        #: them
        self.reader = reader

    async def read(self, attachments: Sequence[Attachment], languages: Sequence[str] = (),
                   keep_images: bool = False) -> list[FileReading]:
        """Each attachment read, in order (at most max_files). `languages`: the likely
        languages of the text in images, best first; `keep_images`: keep the images' bytes
        for a model that reads them."""
        readings = []
        for attachment in list(attachments)[:self.config.max_files]:
            readings.append(await self.read_one(attachment, languages, keep_images))
        return readings

    async def read_one(self, attachment: Attachment, languages: Sequence[str] = (),
                       keep_images: bool = False) -> FileReading:
        name = attachment.name or "file"
        try:
            data = await download(attachment, self.config.max_bytes)
            return await asyncio.to_thread(self._read_bytes, name, data, languages,
                                           keep_images)
        except Refusal as exc:
            log.info("attachment %r refused: %s", name, exc)
            return FileReading(name, refusal=exc.key)
        except Exception:
            log.exception("attachment %r could not be read", name)
            return FileReading(name, refusal="attachment_unreadable")

    def _read_bytes(self, name: str, data: bytes, languages: Sequence[str],
                    keep_images: bool) -> FileReading:
        kind = sniff(data)
        if kind == "text":
            limit = self.config.text_kb * 1024
            text = decode_text(data[:limit]) or ""
            return FileReading(name, "text", text.strip(), cut=len(data) > limit)
        if kind in ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"):
            image = open_image(data, int(self.config.max_megapixels * 1_000_000))
            reading = None
            if self.reader is not None:
                reading = self.reader.read(image, languages)
                log.info("attachment %r: read %d characters with %s in %.2f s", name,
                         len(reading.text), reading.models, reading.seconds)
            text = reading.text if reading else ""
            if not text and not keep_images:
                raise Refusal("attachment_unreadable", "no text found in the image")
            image_bytes, image_type = b"", ""
            if keep_images and kind in ("PNG", "JPEG", "WEBP"):
                image_bytes, image_type = data, f"image/{kind.lower()}"
            elif keep_images:  # GIF, BMP, TIFF: vision APIs take PNG
                image_bytes, image_type = _as_png(image), "image/png"
            return FileReading(name, "image", text, image_bytes, image_type, ocr=reading)
        raise Refusal("attachment_unsupported", f"a {kind} file")


def _as_png(image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "PNG")
    return out.getvalue()


def describe(readings: Sequence[FileReading], text_kb: int) -> str:
    """The files' text as it joins the customer's message in the prompt: each marked with
    where it comes from, so the model knows it was read, not typed."""
    parts = []
    for reading in readings:
        if not reading.text:
            continue
        if reading.kind == "image":
            header = f"[Text read from the customer's image \"{reading.name}\"]"
        else:
            cut = f", its first {text_kb} KB" if reading.cut else ""
            header = f"[The customer's file \"{reading.name}\"{cut}]"
        parts.append(f"{header}\n{reading.text}")
    return "\n\n".join(parts)


def refusal_text(reading: FileReading, get: Callable[[str], str], max_mb: float) -> str:
    """The customer's sentence for a refused file, with its name and the limit filled in."""
    mb = f"{max_mb:g}"
    return get(reading.refusal).replace("{name}", reading.name).replace("{limit}", mb)
