"""The HTTP adapter: a real aiohttp server in front of the real core, with the stand-in
engine of engines.py answering (test_run.py has the real model answer over HTTP)."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import aiohttp
import pytest

from adapters import settings as settings_of
from adapters.http import HttpAdapter
from bot.core import open_core
from bot.errors import AdapterError


@pytest.fixture
def core(config, scripted):
    core = open_core(config, engine=scripted, watch=False)
    yield core
    core.close()


@pytest.fixture
async def served(core):
    """serve(tokens=[...], **settings) → a running adapter and a session for it."""
    running: list[HttpAdapter] = []

    async def serve(tokens=(), **settings):
        cfg = dataclasses.replace(settings_of(core.config, HttpAdapter), enabled=True, port=0, **settings)
        adapter = HttpAdapter(core.pipeline, cfg, list(tokens))
        await adapter.start()
        running.append(adapter)
        return adapter, aiohttp.ClientSession(f"http://127.0.0.1:{adapter.port}")

    yield serve
    for adapter in running:
        await adapter.stop()


@pytest.fixture
async def http(served):
    """The API on loopback without tokens, as `babeldesk run` starts it by default."""
    adapter, session = await served()
    async with session:
        yield adapter, session


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


@pytest.mark.parametrize("path,body,status,error", [
    ("/v1/messages", b"[" * 30000 + b"]" * 30000, 400, "the body is nested too deeply"),
    ("/v1/messages", b'{"text": "hi", "conversation": "\\ud800"}', 400,
     '"conversation" must be Unicode text (it has a lone surrogate)'),
    ("/v1/messages", b'{"text": "\\udfff hi"}', 400,
     '"text" must be Unicode text (it has a lone surrogate)'),
    ("/v1/messages", b'{"text": "hi", "stream": "yes"}', 400, '"stream" must be true or false'),
    ("/v1/messages", b'{"text": "hi", "author": ["a"]}', 400, '"author" must be a string'),
    ("/v1/messages", b'{"text": "hi", "conversation": "' + b"c" * 201 + b'"}', 400,
     '"conversation" must be at most 200 characters'),
    ("/v1/messages", b'{"text": "' + b"a" * 100_000 + b'"}', 413, "the body is over 64 kB"),
    ("/v1/feedback", b'{"turn_id": %d, "value": 1}' % 2**70, 400,
     '"turn_id" must be an answer\'s id and "value" 1 or -1'),
    ("/v1/feedback", b'{"turn_id": 1, "value": true}', 400,
     '"turn_id" must be an answer\'s id and "value" 1 or -1'),
])
async def test_malformed_requests_get_a_json_error_not_a_500(http, path, body, status, error):
    adapter, session = http
    async with session.post(path, data=body,
                            headers={"Content-Type": "application/json"}) as response:
        assert response.status == status
        assert response.content_type == "application/json"
        assert (await response.json()) == {"error": error}
    # The server is still there for the next question.
    async with session.post("/v1/messages", json={"text": ""}) as response:
        assert response.status == 200


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_is_required_when_configured(served):
    adapter, session = await served(tokens=["s3cret"])
    async with session:
        async with session.post("/v1/messages", json={"text": "hi"}) as response:
            assert response.status == 401
        async with session.post("/v1/messages", json={"text": ""},
                                headers=bearer("s3cret")) as response:
            assert response.status == 200
            assert (await response.json())["kind"] == "empty"


def test_an_api_beyond_loopback_does_not_start_without_a_token(write_config, core,
                                                                  monkeypatch):
    monkeypatch.delenv("BABELDESK_HTTP_TOKEN", raising=False)
    config = write_config(adapters={"http": {"enabled": True, "host": "0.0.0.0"}})
    with pytest.raises(AdapterError) as refused:
        HttpAdapter.from_config(config, core.pipeline)
    assert str(refused.value) == (
        "not started: it listens on 0.0.0.0 (adapters.http.host), beyond this machine, and "
        "BABELDESK_HTTP_TOKEN holds no token: set one (openssl rand -hex 24), or listen on "
        "127.0.0.1")
    monkeypatch.setenv("BABELDESK_HTTP_TOKEN", "widget-token, script-token")
    adapter = HttpAdapter.from_config(config, core.pipeline)
    assert sorted(adapter.tokens.values()) == ["script-token", "widget-token"]
    # On loopback, no token is needed.
    monkeypatch.delenv("BABELDESK_HTTP_TOKEN")
    local = write_config(adapters={"http": {"enabled": True, "host": "127.0.0.1"}})
    assert HttpAdapter.from_config(local, core.pipeline).tokens == {}


async def test_clients_never_share_a_conversation_or_its_feedback(served, core):
    adapter, session = await served(tokens=["widget", "script"])
    async with session:
        answers = {}
        for token in ("widget", "script"):
            async with session.post("/v1/messages", headers=bearer(token), json={
                    "text": "How do I reset my password?", "conversation": "c1"}) as response:
                assert response.status == 200
                answers[token] = await response.json()
        assert answers["widget"]["conversation"] == answers["script"]["conversation"] == "c1"
        # Two conversations, each with one exchange: the script's question was answered
        # without the widget's in its history.
        rows = core.history.db.execute(
            "SELECT conversation_id, count(*) FROM turns GROUP BY conversation_id").fetchall()
        assert len(rows) == 2 and all(count == 2 for _, count in rows)
        assert not any("widget" in cid or "script" in cid for cid, _ in rows)  # no token stored
        # Feedback only on one's own answers.
        turn = answers["widget"]["turn_id"]
        async with session.post("/v1/feedback", headers=bearer("script"),
                                json={"turn_id": turn, "value": -1}) as response:
            assert response.status == 404
        async with session.post("/v1/feedback", headers=bearer("widget"),
                                json={"turn_id": turn, "value": -1}) as response:
            assert response.status == 200
    assert core.history.db.execute("SELECT count(*) FROM feedback").fetchone() == (1,)


async def test_a_client_over_its_rate_is_told_when_to_come_back(served):
    adapter, session = await served(tokens=["widget", "script"], rate_limit=2)
    async with session:
        for _ in range(2):
            async with session.post("/v1/messages", headers=bearer("widget"),
                                    json={"text": "hi"}) as response:
                assert response.status == 200
        async with session.post("/v1/messages", headers=bearer("widget"),
                                json={"text": "hi"}) as response:
            assert response.status == 429
            assert 1 <= int(response.headers["Retry-After"]) <= 60
            assert "2 questions a minute" in (await response.json())["error"]
        # Another client is not held back by it.
        async with session.post("/v1/messages", headers=bearer("script"),
                                json={"text": "hi"}) as response:
            assert response.status == 200


async def test_beyond_the_queue_bound_questions_get_429(served, scripted):
    adapter, session = await served(max_pending=2)
    release = asyncio.Event()
    scripted.hold(release.is_set, after=1)
    async with session:
        asking = [asyncio.create_task(session.post("/v1/messages", json={
            "text": "How do I reset my password?", "conversation": f"c{i}"}))
            for i in range(2)]
        await wait_until(lambda: adapter.pending == 2)
        async with session.post("/v1/messages", json={"text": "How do I reset my password?",
                                                      "conversation": "c3"}) as response:
            assert response.status == 429
            assert int(response.headers["Retry-After"]) >= 1
            assert "answering 2 questions already" in (await response.json())["error"]
        release.set()
        for response in await asyncio.gather(*asking):
            assert response.status == 200 and (await response.json())["kind"] == "answer"
            response.release()
    assert adapter.pending == 0


async def test_thirty_questions_at_once_leave_no_one_waiting_for_minutes(served, scripted):
    # The load that took 21.5 minutes without a bound: 30 questions over 10 conversations,
    # all at once. Four are taken, the others are told at once when to come back.
    adapter, session = await served(tokens=[f"client-{i}" for i in range(10)])
    release = asyncio.Event()
    scripted.hold(release.is_set, after=1)
    async with session:
        asking = [asyncio.create_task(session.post(
            "/v1/messages", headers=bearer(f"client-{i % 10}"),
            json={"text": "How do I reset my password?", "conversation": f"c{i % 10}"}))
            for i in range(30)]
        await wait_until(lambda: sum(t.done() for t in asking) == 26)
        refused = [t.result() for t in asking if t.done()]
        assert {r.status for r in refused} == {429} and adapter.pending == 4
        assert all(1 <= int(r.headers["Retry-After"]) <= 300 for r in refused)
        release.set()
        statuses = sorted([(await t).status for t in asking])
        assert statuses == [200] * 4 + [429] * 26
        for t in asking:
            t.result().release()
    assert adapter.pending == 0 and len(scripted.calls) == 4


async def test_an_answer_for_a_client_that_left_is_cancelled(served, scripted, core):
    adapter, session = await served()
    scripted.hold(lambda: adapter.pending == 0, after=1)
    async with session:
        asking = asyncio.create_task(session.post("/v1/messages", json={
            "text": "How do I reset my password?", "conversation": "gone"}))
        await wait_until(lambda: scripted.calls)
        asking.cancel()  # the visitor closed the tab
        await wait_until(lambda: core.pipeline.in_progress == 0 and adapter.pending == 0)
    # Nothing was stored for an answer nobody read, and the model let go of it after the
    # piece it was writing (the whole answer has dozens).
    assert core.history.db.execute("SELECT count(*) FROM turns").fetchone() == (0,)
    assert core.pipeline.metrics.registry.get_sample_value(
        "babeldesk_generated_tokens_total") <= 2


async def test_requests_during_shutdown_get_503(served, scripted):
    adapter, session = await served()
    release = asyncio.Event()
    scripted.hold(release.is_set, after=1)
    async with session:
        asking = asyncio.create_task(session.post("/v1/messages", json={
            "text": "How do I reset my password?"}))
        await wait_until(lambda: scripted.calls)
        stopping = asyncio.create_task(adapter.stop())
        await wait_until(lambda: adapter._stopping)
        async with session.post("/v1/messages", json={"text": "hi"}) as response:
            assert response.status == 503
            assert response.headers["Retry-After"]
            assert "stopping" in (await response.json())["error"]
        release.set()
        answered = await asyncio.wait_for(asking, 60)
        assert answered.status == 200 and (await answered.json())["kind"] == "answer"
        answered.release()
        await stopping


async def wait_until(condition, timeout: float = 60.0) -> None:
    """Wait for `condition()` (an event in another task or thread); fail after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


async def test_an_action_is_confirmed_over_the_api_by_its_asker_only(write_config, scripted,
                                                                     monkeypatch):
    from helpers import import_shop, shop_actions

    shop = import_shop()
    monkeypatch.setenv("SHOP_TOKEN", "t")
    runner, base_url, app = await shop.start(token="t")
    core = open_core(write_config(**shop_actions(base_url)), engine=scripted, watch=False)
    adapter = HttpAdapter(core.pipeline, dataclasses.replace(
        settings_of(core.config, HttpAdapter), enabled=True, port=0), [])
    await adapter.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{adapter.port}") as session:
            async with session.post("/v1/messages", json={
                    "text": "Please cancel my order 48214", "conversation": "c1",
                    "author": "ana"}) as response:
                asked = await response.json()
            assert asked["kind"] == "confirm" and asked["action_call"]
            assert app[shop.REQUESTS_KEY] == []
            confirm = {"conversation": "c1", "action_call": asked["action_call"], "yes": True}
            async with session.post("/v1/confirm", json={**confirm, "author": "bob"}) as response:
                assert response.status == 403
            async with session.post("/v1/confirm", json={**confirm, "conversation": "c2",
                                                         "author": "ana"}) as response:
                assert (await response.json())["kind"] == "action_expired"
            assert app[shop.REQUESTS_KEY] == []
            async with session.post("/v1/confirm", json={**confirm, "author": "ana",
                                                         "stream": True}) as response:
                lines = [json.loads(line) for line in (await response.text()).splitlines()]
            done = lines[-1]
            assert done["kind"] == "answer" and done["sources"][0]["path"] == \
                "actions/cancel_order"
            assert [(m, p) for m, p, _ in app[shop.REQUESTS_KEY]] == [
                ("POST", "/orders/48214/cancel")]
            async with session.post("/v1/confirm", json={**confirm, "author": "ana"}) as response:
                assert (await response.json())["kind"] == "action_expired"
            async with session.post("/v1/confirm", json={"conversation": "c1",
                                                         "action_call": "7"}) as response:
                assert response.status == 400
        assert len(app[shop.REQUESTS_KEY]) == 1
    finally:
        await adapter.stop()
        core.close()
        await runner.cleanup()
