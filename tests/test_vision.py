"""Models that read images: a screenshot goes to the model as an image as well as the text OCR
read in it. The OpenAI path is checked against a local server that records the requests; the
llama.cpp path's message handling is checked without a multimodal GGUF (none ships in a
package this project can install: see README, "Screenshots and files")."""

from __future__ import annotations

import base64

import pytest
from helpers import ROOT, FakeOpenAI, fake_openai, message

from bot.config import make_config
from bot.core import open_core
from bot.engine import OpenAIEngine, VisionHandler, image_parts
from bot.errors import ConfigError
from bot.message import Attachment

SHOT = ROOT / "tests" / "data" / "screenshots" / "es-dialog-offline.png"


@pytest.fixture
def server():
    with fake_openai("Reinicia el hervidor: desenchufa la base durante 30 segundos.") as url:
        yield url


def with_shot(text: str, channel: str):
    base = message(text, channel=channel)
    return type(base)(**{**base.__dict__, "attachments": (
        Attachment("captura.png", data=SHOT.read_bytes()),)})


@pytest.mark.parametrize("vision", [True, False])
async def test_a_vision_server_gets_the_screenshot_as_an_image_part(write_config, server,
                                                                    vision):
    engine = OpenAIEngine(server, "mistral-small-latest", retries=0, timeout=30, vision=vision)
    core = open_core(write_config(), engine=engine, watch=False)
    try:
        answer = await core.pipeline.respond(with_shot("", f"v-{vision}"))
        assert answer.language == "es" and answer.kind == "answer", answer
        user = FakeOpenAI.received[-1]["messages"][-1]
        if not vision:
            assert isinstance(user["content"], str)
            assert "[Text read from the customer's image \"captura.png\"]" in user["content"]
            return
        text, image = user["content"]
        assert text["type"] == "text"
        assert "[Text read from the customer's image \"captura.png\"]" in text["text"]
        assert "Dispositivo sin conexión" in text["text"]
        assert image["type"] == "image_url"
        url = image["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1]) == SHOT.read_bytes()
        # A follow-up: earlier turns are text only (the image is not sent again).
        await core.pipeline.respond(message("¿y si no funciona?", channel=f"v-{vision}"))
        sent = FakeOpenAI.received[-1]["messages"]
        assert all(isinstance(m["content"], str) for m in sent)
        assert any("Dispositivo sin conexión" in m["content"] for m in sent[1:-1])
    finally:
        core.close()


def test_image_parts_keep_text_first_and_drop_images_for_a_blind_model():
    messages = [{"role": "system", "content": "s"},
                {"role": "user", "content": "q", "images": ["data:image/png;base64,AAAA"]}]
    seeing = image_parts(messages, True)
    assert seeing[1]["content"] == [
        {"type": "text", "text": "q"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    assert image_parts(messages, False)[1] == {"role": "user", "content": "q"}


def test_the_llama_vision_handler_puts_each_image_where_the_template_renders_it(tmp_path):
    """llama-cpp-python's multimodal handler replaces each image's URL in the rendered prompt
    with llama.cpp's media marker: the GGUF's own template renders the URL, written into the
    message's text."""
    projector = tmp_path / "mmproj.gguf"
    projector.write_bytes(b"GGUF")  # opened only when the first image is read
    template = ("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
                "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    handler = VisionHandler(projector, template)
    url = "data:image/png;base64," + base64.b64encode(SHOT.read_bytes()).decode()
    flat = handler.flatten([{"role": "system", "content": "s"},
                            {"role": "user", "content": "¿qué es esto?", "images": [url]}])
    assert flat[1] == {"role": "user", "content": f"{url}\n¿qué es esto?"}
    assert handler.get_image_urls(flat) == [url]
    assert handler.CHAT_FORMAT == template
    assert handler.load_image(url) == SHOT.read_bytes()


def test_vision_settings_are_checked(tmp_path):
    (tmp_path / "knowledge").mkdir()
    base = {"data_dir": str(tmp_path / "data"), "knowledge": {"path": "knowledge"}}
    with pytest.raises(ConfigError, match=r"model\.mmproj.*no such file"):
        make_config({**base, "model": {"mmproj": "missing.gguf"}}, tmp_path).validate()
    with pytest.raises(ConfigError, match=r"model\.vision.*openai backend"):
        make_config({**base, "model": {"vision": True}}, tmp_path).validate()
    with pytest.raises(ConfigError, match=r"model\.mmproj.*llama backend"):
        make_config({**base, "model": {"backend": "openai", "base_url": "http://x/v1",
                                       "name": "m", "mmproj": "x.gguf"}}, tmp_path).validate()
