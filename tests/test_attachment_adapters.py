"""Screenshots and files through every adapter: the real slack-bolt and discord.py clients
against the fakes (Slack's url_private wants the bot token; Discord's CDN wants its signed
URL), the terminal's /image and the HTTP API's base64 and multipart bodies. The stand-in engine
answers (tests/engines.py); Tesseract, Pillow, langdetect and retrieval are real."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io

import aiohttp
import pytest
from fake_discord import BOT_ID, GENERAL, mention, message_create
from fake_slack import FakeSlack, app_mention, envelope, im_message
from helpers import ROOT

from adapters import settings
from adapters.discord import DiscordAdapter
from adapters.http import HttpAdapter
from adapters.slack import SlackAdapter
from adapters.terminal import TerminalAdapter
from bot.core import open_core

SHOTS = ROOT / "tests" / "data" / "screenshots"
WAIT = 120
TOKEN = "MTA4NTEzMTkzMjkzODkyODEyOA.GfAkEz.fake-token-for-tests-only_0123456789abc"


@pytest.fixture
def core(write_config, scripted):
    core = open_core(write_config(model={"max_tokens": 400}), engine=scripted, watch=False)
    yield core
    core.close()


def shot(name: str) -> bytes:
    return (SHOTS / name).read_bytes()


# -- Slack --

@pytest.fixture
async def slack(core):
    fake = await FakeSlack().start()
    config = dataclasses.replace(settings(core.config, SlackAdapter), api_url=fake.api_url)
    adapter = SlackAdapter(core.pipeline, config, "xoxb-test", app_token="xapp-test")
    await adapter.start()
    await fake.wait_for_socket(timeout=WAIT)
    yield fake, adapter
    await adapter.stop()
    await fake.stop()


def final_text(fake) -> str:
    done = [c for c in fake.calls_to("chat.update") if c.params.get("blocks")]
    return done[-1].params["text"] if done else ""


def sources_of(fake) -> str:
    done = [c for c in fake.calls_to("chat.update") if c.params.get("blocks")][-1]
    return next((b["elements"][0]["text"] for b in done.params["blocks"]
                 if b["type"] == "context"), "")


async def test_slack_a_mention_with_a_screenshot_alone_gets_its_article(slack, core):
    fake, _ = slack
    file = fake.upload("image.png", shot("de-dialog-wifi.png"), "image/png")
    event = app_mention("", ts="1700100000.000100")  # app_mention events carry no files
    fake.remember(event, [file])
    await fake.push(envelope(event))
    await fake.wait_for(lambda: final_text(fake), timeout=WAIT)
    lookup = fake.calls_to("conversations.history")[-1].params
    assert lookup["channel"] == event["channel"] and lookup["latest"] == event["ts"]
    assert lookup["inclusive"] in ("true", "1", True) and str(lookup["limit"]) == "1"
    assert fake.downloads == [(f"{file['url_private_download'].split('/files-pri/')[1]}"
                               .replace("/download/", "/"), "Bearer xoxb-test")]
    assert "de/fehlerbehebung.de.md" in sources_of(fake)
    asked = core.history.recent(adapter_key(slack, event), 2)[0]
    assert asked.role == "user" and "5 GHz" in asked.text  # what was read is kept


def adapter_key(slack, event):
    return slack[1].message_for(event, envelope(event)).key


async def test_slack_a_mention_in_a_thread_reads_the_reply_s_files(slack):
    fake, _ = slack
    file = fake.upload("pantalla.png", shot("es-dialog-offline.png"), "image/png")
    parent = app_mention("hola", ts="1700100000.000900")
    event = app_mention("me sale esto", ts="1700100100.000200",
                        thread_ts="1700100000.000900")
    fake.remember(parent, [])
    fake.remember(event, [file])
    await fake.push(envelope(event))
    await fake.wait_for(lambda: final_text(fake), timeout=WAIT)
    lookup = fake.calls_to("conversations.replies")[-1].params
    assert lookup["ts"] == "1700100000.000900" and lookup["latest"] == event["ts"]
    assert "es/problemas.md" in sources_of(fake)


async def test_slack_a_direct_message_with_a_screenshot_downloads_it_with_the_token(slack):
    fake, _ = slack
    dm = im_message("", ts="1700100150.000100")
    file = fake.upload("IMG_2041.png", shot("es-dialog-offline.png"), "image/png")
    dm.update(subtype="file_share", files=[file], upload=True)
    await fake.push(envelope(dm))
    await fake.wait_for(lambda: final_text(fake), timeout=WAIT)
    assert not fake.calls_to("conversations.history")  # the event had its files
    assert [auth for _, auth in fake.downloads] == ["Bearer xoxb-test"]
    assert "es/problemas.md" in sources_of(fake)


async def test_slack_an_oversized_or_unreadable_file_gets_a_localised_reply(slack, core):
    fake, _ = slack
    fake.users["U0CUSTOMER"] = {"locale": "de-DE"}
    dm = im_message("", ts="1700100200.000100")
    big = fake.upload("video.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
    big["size"] = 50 * 1024 * 1024  # as Slack reports it: never downloaded
    dm.update(subtype="file_share", files=[big])
    await fake.push(envelope(dm))
    await fake.wait_for(lambda: "video.png" in " ".join(
        str(c.params.get("text")) for c in fake.calls_to("chat.postMessage")
        + fake.calls_to("chat.update")), timeout=WAIT)
    said = " ".join(str(c.params.get("text")) for c in fake.calls_to("chat.postMessage")
                    + fake.calls_to("chat.update"))
    expected = core.pipeline.texts.get("attachment_too_large", "de")
    assert expected.replace("{name}", "video.png").replace("{limit}", "10") in said
    assert fake.downloads == []


async def test_slack_sends_the_bot_token_to_slack_s_own_hosts_only(slack):
    _, adapter = slack
    files = adapter.attachments_of([
        {"name": "a.png", "url_private": "https://files.slack.com/files-pri/T-F1/a.png"},
        {"name": "b.png", "url_private": "https://evil.example/files-pri/T-F2/b.png"},
        {"name": "c.png", "mode": "tombstone"},
        {"name": "d.png", "mode": "hidden_by_limit", "url_private": "https://files.slack.com/x"},
    ])
    assert [f.name for f in files] == ["a.png", "b.png"]
    assert files[0].headers == (("Authorization", "Bearer xoxb-test"),)
    assert files[1].headers == ()
    assert "xoxb-test" not in repr(files)


# -- Discord --

async def test_discord_a_japanese_screenshot_alone_gets_its_article(discord_fake, core):
    config = settings(core.config, DiscordAdapter)
    adapter = DiscordAdapter(core.pipeline, config, TOKEN, guild_ready_timeout=0.1)
    await adapter.start()
    try:
        await asyncio.wait_for(adapter.wait_until_ready(), WAIT)
        attachment = discord_fake.attach("image.png", shot("ja-dialog-offline.png"),
                                         "image/png", GENERAL)
        asked = message_create(mention(BOT_ID), GENERAL, mentions=[BOT_ID],
                               attachments=[attachment])
        await discord_fake.dispatch("MESSAGE_CREATE", asked)
        await discord_fake.wait_for(lambda: any(
            (c.json or {}).get("components") and c.status == 200
            for c in discord_fake.calls if c.method in ("POST", "PATCH")
            and "/messages" in c.path), timeout=WAIT)
        assert discord_fake.cdn_gets and discord_fake.cdn_gets[0][1]["hm"]
        final = [c for c in discord_fake.calls if c.method in ("POST", "PATCH")
                 and "/messages" in c.path and (c.json or {}).get("components")][-1]
        shown = final.json.get("content", "") + str(final.json.get("embeds", ""))
        assert "ja/troubleshooting.md" in shown, shown
    finally:
        await adapter.stop()


# -- the terminal --

async def test_terminal_image_command(core, tmp_path):
    stdin = io.BytesIO(f"/image {SHOTS / 'es-dialog-offline.png'}\n"
                       f"/image \"{tmp_path / 'no such.png'}\"\n"
                       f"/file {SHOTS / 'no-text.jpg'} ¿qué es esto?\n".encode())
    stdout = io.StringIO()
    await TerminalAdapter(core.pipeline, conversation="img", stdin=stdin, stdout=stdout,
                          author="tester").run()
    out = stdout.getvalue()
    assert "[es] Fuentes: es/problemas.md" in out, out
    assert "(cannot read" in out and "no such.png" in out
    assert core.pipeline.texts.get("attachment_unreadable", "es").replace(
        "{name}", "no-text.jpg") in out


# -- the HTTP API --

@pytest.fixture
async def http(core):
    cfg = dataclasses.replace(settings(core.config, HttpAdapter), enabled=True, port=0)
    adapter = HttpAdapter(core.pipeline, cfg)
    await adapter.start()
    session = aiohttp.ClientSession(f"http://127.0.0.1:{adapter.port}")
    yield session
    await session.close()
    await adapter.stop()


async def test_http_files_as_base64_and_as_multipart(http):
    data = shot("de-dialog-wifi.png")
    async with http.post("/v1/messages", json={
            "conversation": "b64", "files": [{"name": "wlan.png",
                                              "data": base64.b64encode(data).decode()}]}) as r:
        body = await r.json()
    assert r.status == 200 and body["language"] == "de", body
    assert "de/fehlerbehebung.de.md" in [s["path"] for s in body["sources"]]
    form = aiohttp.FormData()
    form.add_field("text", "¿qué significa esto?")
    form.add_field("conversation", "multi")
    form.add_field("file", shot("es-dialog-offline.png"), filename="error.png",
                   content_type="image/png")
    async with http.post("/v1/messages", data=form) as r:
        body = await r.json()
    assert r.status == 200 and body["language"] == "es", body
    assert "es/problemas.md" in [s["path"] for s in body["sources"]]
    async with http.post("/v1/messages", json={"files": [{"name": "x", "data": "%%%"}]}) as r:
        assert r.status == 400 and "base64" in (await r.json())["error"]
    async with http.post("/v1/messages", json={"conversation": "none"}) as r:
        assert r.status == 400
