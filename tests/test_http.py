"""The HTTP adapter: a real aiohttp server in front of the real core, with the stand-in
engine of engines.py answering (test_run.py has the real model answer over HTTP)."""

from __future__ import annotations

import json

import aiohttp
import pytest
from engines import ScriptedEngine

from adapters.http import HttpAdapter
from bot.core import open_core


@pytest.fixture
def scripted():
    return ScriptedEngine()


@pytest.fixture
def core(config, scripted):
    core = open_core(config, engine=scripted, watch=False)
    yield core
    core.close()


@pytest.fixture
async def http(core):
    adapter = HttpAdapter(core.pipeline, core.config.adapters.http)
    adapter.config = type(adapter.config)(enabled=True, port=0)
    await adapter.start()
    async with aiohttp.ClientSession(f"http://127.0.0.1:{adapter.port}") as session:
        yield adapter, session
    await adapter.stop()


async def test_a_question_gets_a_grounded_answer_as_json(http, core):
    adapter, session = http
    async with session.post("/v1/messages", json={"text": "How do I reset my password?",
                                                  "conversation": "web-1",
                                                  "author": "visitor"}) as response:
        assert response.status == 200
        body = await response.json()
    assert body["kind"] == "answer" and body["text"]
    assert body["language"] == "en" and body["conversation"] == "web-1"
    assert any("password" in s["path"] or "password" in s["heading"].lower()
               for s in body["sources"])
    # The exchange is stored under the HTTP conversation, and feedback lands on it.
    async with session.post("/v1/feedback", json={"turn_id": body["turn_id"], "value": -1,
                                                   "author": "visitor"}) as response:
        assert response.status == 200
    row = core.history.db.execute("SELECT value FROM feedback WHERE turn_id = ?",
                                  [body["turn_id"]]).fetchone()
    assert row == (-1,)


async def test_streaming_sends_deltas_then_the_whole_answer(http, scripted):
    adapter, session = http
    async with session.post("/v1/messages", json={"text": "¿Cómo restablezco mi contraseña?",
                                                  "stream": True}) as response:
        assert response.headers["Content-Type"] == "application/x-ndjson"
        lines = [json.loads(line) async for line in response.content if line.strip()]
    deltas = [line["delta"] for line in lines[:-1]]
    final = lines[-1]
    assert len(deltas) > 3 and final["language"] == "es"
    assert final["text"] == "".join(deltas).strip()
    assert len(scripted.calls) == 1


async def test_bad_requests_get_a_clear_error(http):
    adapter, session = http
    async with session.post("/v1/messages", data=b"{not json") as response:
        assert response.status == 400
        assert (await response.json())["error"] == "the body must be JSON"
    async with session.post("/v1/messages", json={"question": "hi"}) as response:
        assert response.status == 400
        assert "text" in (await response.json())["error"]
    async with session.post("/v1/feedback", json={"turn_id": 999999, "value": 1}) as response:
        assert response.status == 404


async def test_a_token_is_required_when_configured(core):
    adapter = HttpAdapter(core.pipeline, type(core.config.adapters.http)(enabled=True, port=0),
                          token="s3cret")
    await adapter.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{adapter.port}") as session:
            async with session.post("/v1/messages", json={"text": "hi"}) as response:
                assert response.status == 401
            async with session.post("/v1/messages", json={"text": ""},
                                    headers={"Authorization": "Bearer s3cret"}) as response:
                assert response.status == 200
                assert (await response.json())["kind"] == "empty"
    finally:
        await adapter.stop()
