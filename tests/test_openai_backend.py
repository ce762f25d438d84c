"""model.backend: openai — babeldesk in front of a real OpenAI-compatible server
(llama-cpp-python's own `llama_cpp.server` serving the embedded model), and what happens when
such a server misbehaves."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from aiohttp import web

from bot.cli import main
from bot.core import open_core
from helpers import message, serve

pytestmark = pytest.mark.model

ALIAS = "kettlebird-support"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(model_path, tmp_path_factory):
    port = free_port()
    # llama.cpp logs a lot: into a file, since an undrained pipe would stall the server.
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("w+b")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path),
         "--model_alias", ALIAS, "--n_ctx", "4096", "--verbose", "False",
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                if ALIAS in response.read().decode():
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log.seek(0)
            pytest.fail("llama_cpp.server did not start: " + log.read().decode()[-2000:])
        time.sleep(0.5)
    yield base_url
    process.terminate()
    process.wait(30)
    log.close()


def openai_config(write_config, base_url, **model):
    return write_config(model={"backend": "openai", "base_url": base_url, "name": ALIAS,
                               "max_tokens": 96, **model})


async def test_answers_stream_from_an_openai_compatible_server(write_config, llama_server):
    core = open_core(openai_config(write_config, llama_server))
    try:
        chunks = []
        answer = await core.pipeline.answer(message("How do I reset my password?"),
                                            chunks.append)
        assert answer.kind == "answer" and answer.language == "en"
        # Streamed a checked sentence at a time; the final text is the checked answer or,
        # when the model's failed the check, the article's own sentences.
        assert chunks and (answer.origin != "model"
                           or answer.text.startswith("".join(chunks).strip()[:20]))
        assert answer.sources
        spanish = await core.pipeline.answer(
            message("¿Cómo restablezco mi contraseña?", channel="C2"))
        assert spanish.kind == "answer" and spanish.language == "es"
        assert core.pipeline.metrics.tokens._value.get() > 3
    finally:
        core.close()


def test_check_reports_the_server(write_config, llama_server, capsys):
    config = openai_config(write_config, llama_server)
    assert main(["--config", str(config.origin), "check"]) == 0
    assert f"model      ok: {ALIAS} at {llama_server}" in capsys.readouterr().out


async def test_a_refused_connection_is_one_line_and_the_bot_keeps_serving(
        write_config, caplog, capsys):
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    config = openai_config(write_config, base_url, retries=0, timeout=5)
    core = open_core(config)
    try:
        assert f"cannot reach the model server at {base_url}" in caplog.text
        answer = await core.pipeline.answer(message("How do I reset my password?"))
        # The person gets the apology in their language, not silence; the next message too.
        assert answer.kind == "error"
        assert answer.text == core.pipeline.texts.get("error", "en")
        again = await core.pipeline.answer(message("¿Cómo restablezco mi contraseña?"))
        assert again.kind == "error" and again.language == "es"
    finally:
        core.close()
    assert main(["--config", str(config.origin), "check", "--no-load"]) == 1
    assert f"model      FAIL: cannot reach the model server at {base_url}" in \
        capsys.readouterr().out


class FlakyServer:
    """An OpenAI-compatible endpoint that answers 429 first, then streams; or never answers.
    Records how many requests were in flight at once."""

    def __init__(self, mode: str):
        self.mode = mode
        self.stopping = asyncio.Event()
        self.requests = 0
        self.in_flight = 0
        self.most_in_flight = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.complete)
        self.runner, base = await serve(app)
        return f"{base}/v1"

    async def models(self, request):
        return web.json_response({"object": "list", "data": [
            {"id": ALIAS, "object": "model", "created": 0, "owned_by": "test"}]})

    async def complete(self, request):
        self.requests += 1
        body = await request.json()
        if self.mode == "hang":  # until the test is over
            await self.stopping.wait()
            return web.Response(status=503)
        if self.mode == "rate-limited" and self.requests == 1:
            return web.json_response({"error": {"message": "slow down", "type": "rate_limit"}},
                                     status=429, headers={"Retry-After": "1"})
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for piece in ("Press ", "Forgot ", "password ", "on ", "the sign-in ", "page."):
            chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                     "model": body["model"], "choices": [
                         {"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await asyncio.sleep(0.4)
        await response.write(b"data: [DONE]\n\n")
        self.in_flight -= 1
        return response

    async def stop(self):
        self.stopping.set()
        await self.runner.cleanup()


async def test_a_429_is_retried_and_parallel_answers_run_together(write_config):
    server = FlakyServer("rate-limited")
    base_url = await server.start()
    # open_core checks the server, which runs on this loop: open it on a thread.
    core = await asyncio.to_thread(open_core, openai_config(write_config, base_url, parallel=2))
    try:
        started = time.monotonic()
        first, second = await asyncio.gather(
            core.pipeline.answer(message("How do I reset my password?", channel="A")),
            core.pipeline.answer(message("How do I reset my password?", channel="B")))
        assert first.text == second.text == "Press Forgot password on the sign-in page."
        assert server.requests == 3  # one 429, retried after Retry-After, and the other
        assert server.most_in_flight == 2
        assert time.monotonic() - started >= 1.0
    finally:
        core.close()
        await server.stop()


async def test_a_server_that_does_not_answer_times_out(write_config):
    server = FlakyServer("hang")
    base_url = await server.start()
    core = await asyncio.to_thread(open_core,
                                   openai_config(write_config, base_url, timeout=1, retries=1))
    try:
        started = time.monotonic()
        answer = await core.pipeline.answer(message("How do I reset my password?"))
        assert answer.kind == "error"
        assert server.requests == 2
        assert time.monotonic() - started < 20
    finally:
        core.close()
        await server.stop()


async def test_tool_choice_through_llama_cpps_server(llama_server):
    """The embedded model behind llama.cpp's OpenAI-compatible server: the standard `tools`
    go in; the server renders them with the GGUF's template, and the model's call comes back
    as text (no tool parser on that server), which babeldesk reads."""
    from bot.engine import OpenAIEngine
    from bot.tools import ToolCall

    order = {"type": "function", "function": {
        "name": "order_status", "description": "Look up an order by its order number.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                       "required": ["order_id"]}}}
    engine = OpenAIEngine(llama_server, ALIAS, retries=0, timeout=120)
    call = await asyncio.to_thread(
        engine.choose, [{"role": "system", "content": "You are a shop's support assistant. "
                         "Call a function when the customer's message asks for it."},
                        {"role": "user", "content": "Where is my order 48213?"}],
        [order], 160)
    assert call == ToolCall("order_status", {"order_id": "48213"})
