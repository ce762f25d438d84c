"""`babeldesk run`: the chat platforms in one process, started from the environment."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys

import aiohttp

import pytest
from fake_slack import FakeSlack, app_mention, envelope

pytestmark = pytest.mark.model

#: deadlines, not expectations: each test starts babeldesk, which loads the real model and
#: answers with it; a loaded machine is slow, and an idle one passes at once
MODEL_WAIT = 600
#: for a stop once nothing is being answered any more
STOP_WAIT = 120


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=MODEL_WAIT))


async def start_run(config, env):
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "--config", str(config.origin), "run",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**{k: v for k, v in os.environ.items()
                if not k.startswith(("SLACK_", "DISCORD_", "BABELDESK_HTTP"))}, **env})


async def test_run_answers_on_slack_and_stops_on_sigterm(write_config, model_path):
    fake = await FakeSlack().start()
    config = write_config(model={"source": "path", "path": str(model_path), "max_tokens": 64},
                          adapters={"slack": {"api_url": fake.api_url}})
    process = await start_run(config, {"SLACK_BOT_TOKEN": "xoxb-run",
                                       "SLACK_APP_TOKEN": "xapp-run"})
    try:
        await fake.wait_for_socket(timeout=MODEL_WAIT)
        await fake.push(envelope(app_mention("How do I reset my password?")))
        await fake.wait_for(lambda: any(c.params.get("blocks")
                                        for c in fake.calls_to("chat.update")),
                            timeout=MODEL_WAIT)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), STOP_WAIT)
        assert process.returncode == 0, stderr.decode()
        assert "babeldesk: slack: connected" in stderr.decode()
        # Discord has no token here: one line, and Slack still ran.
        assert ("babeldesk: discord: not started: set DISCORD_BOT_TOKEN in the environment "
                "(adapters.discord)") in stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
        await fake.stop()


async def test_run_without_tokens_says_so_in_one_line(write_config, model_path):
    config = write_config(model={"source": "path", "path": str(model_path)})
    process = await start_run(config, {})
    _, stderr = await asyncio.wait_for(process.communicate(), MODEL_WAIT)
    lines = stderr.decode().strip().splitlines()
    assert process.returncode == 1
    assert lines[0].startswith("babeldesk: health on http://127.0.0.1:")
    assert lines[1:] == ["babeldesk: discord: not started: set DISCORD_BOT_TOKEN in the environment "
                     "(adapters.discord)",
                     "babeldesk: slack: not started: set SLACK_BOT_TOKEN and SLACK_APP_TOKEN "
                     "in the environment (adapters.slack, mode socket)",
                     "babeldesk: no chat platform is running: see the lines above"]


async def test_run_with_a_rejected_token_says_so_in_one_line(write_config, model_path):
    fake = await FakeSlack().start()
    fake.rejected_tokens.add("xoxb-old")
    config = write_config(model={"source": "path", "path": str(model_path)},
                          adapters={"slack": {"api_url": fake.api_url}})
    try:
        process = await start_run(config, {"SLACK_BOT_TOKEN": "xoxb-old",
                                           "SLACK_APP_TOKEN": "xapp-run"})
        _, stderr = await asyncio.wait_for(process.communicate(), MODEL_WAIT)
    finally:
        await fake.stop()
    assert process.returncode == 1
    assert ("babeldesk: slack: Slack rejected the bot token in SLACK_BOT_TOKEN: invalid_auth"
            in stderr.decode().splitlines())


async def test_run_keeps_an_open_http_api_closed_without_a_token(write_config, model_path):
    config = write_config(model={"source": "path", "path": str(model_path)},
                          adapters={"slack": {"enabled": False}, "discord": {"enabled": False},
                                    "http": {"enabled": True, "host": "0.0.0.0",
                                             "port": free_port()}})
    process = await start_run(config, {})
    _, stderr = await asyncio.wait_for(process.communicate(), MODEL_WAIT)
    assert process.returncode == 1
    assert stderr.decode().strip().splitlines()[1:] == [
        "babeldesk: http: not started: it listens on 0.0.0.0 (adapters.http.host), beyond this "
        "machine, and BABELDESK_HTTP_TOKEN holds no token: set one (openssl rand -hex 24), or "
        "listen on 127.0.0.1",
        "babeldesk: no chat platform is running: see the lines above"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_http_run(write_config, model_path, grace: float = 20.0, max_tokens: int = 64):
    """`babeldesk run` with only the HTTP adapter; returns the process, the health URL and
    the API URL once it serves."""
    port = free_port()
    config = write_config(model={"source": "path", "path": str(model_path),
                                 "max_tokens": max_tokens},
                          server={"port": 0, "shutdown_grace": grace},
                          adapters={"slack": {"enabled": False},
                                    "discord": {"enabled": False},
                                    "http": {"enabled": True, "port": port}})
    process = await start_run(config, {})
    health = None
    seen = []
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), MODEL_WAIT)).decode()
        assert line, "babeldesk run ended early:\n" + "".join(seen)
        seen.append(line)
        found = re.search(r"health on (http://\S+/healthz)", line)
        if found:
            health = found.group(1)
            # Up before the model is loaded, saying it is not ready yet.
            async with client() as session:
                async with session.get(health) as response:
                    starting = (response.status, (await response.json())["status"])
        if "babeldesk: http: connected" in line:
            return process, health, f"http://127.0.0.1:{port}/v1/messages", starting


async def test_run_serves_health_metrics_and_http_answers(write_config, model_path):
    process, health, api, starting = await start_http_run(write_config, model_path)
    try:
        assert starting == (503, "starting")
        async with client() as session:
            async with session.get(health) as response:
                assert response.status == 200
                status = await response.json()
            assert status["status"] == "serving"
            assert status["platforms"]["http"] == "connected"
            assert status["platforms"]["slack"] == "disabled"
            # (the sample's vectors are stored already: nothing is left to embed)
            assert status["embedding"] == "complete"
            async with session.post(api, json={"text": "How do I reset my password?"}) as r:
                answer = await r.json()
            assert answer["kind"] == "answer" and answer["sources"]
            async with session.post(api, json={"text": "What is the capital of Mongolia?"}
                                    ) as r:
                assert (await r.json())["abstained"] is True
            async with session.get(health.replace("/healthz", "/metrics")) as response:
                metrics = await response.text()
        assert 'babeldesk_messages_total{platform="http"} 2.0' in metrics
        assert 'babeldesk_answers_total{kind="answer",platform="http"} 1.0' in metrics
        assert 'babeldesk_abstentions_total{language="en"} 1.0' in metrics
        assert "babeldesk_time_to_first_token_seconds_count 1.0" in metrics
        # (a rate, not a speed target: any positive figure; a loaded machine may be slow)
        rate = re.search(r"^babeldesk_tokens_per_second (\S+)", metrics, re.M)
        assert rate and float(rate.group(1)) > 0
        assert "babeldesk_queue_length 0.0" in metrics
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), STOP_WAIT)
        assert process.returncode == 0
        assert stderr.decode().rstrip().endswith("babeldesk: stopped")
    finally:
        if process.returncode is None:
            process.kill()


LONG_QUESTION = ("Explain in full detail, step by step, how to descale the kettle and how "
                 "often to do it.")


async def stream_until_first_delta(session, api):
    response = await session.post(api, json={"text": LONG_QUESTION, "stream": True})
    first = json.loads(await response.content.readline())
    assert "delta" in first
    return response


async def read_final(response) -> dict:
    lines = [json.loads(line) async for line in response.content if line.strip()]
    return lines[-1]


async def health_once_signalled(session, health) -> tuple[int, str]:
    """The health check's answer once babeldesk has taken in the SIGTERM sent to it."""
    deadline = asyncio.get_running_loop().time() + STOP_WAIT
    while True:
        async with session.get(health) as probe:
            status = (probe.status, (await probe.json())["status"])
        if status != (200, "serving") or asyncio.get_running_loop().time() > deadline:
            return status
        await asyncio.sleep(0.05)


async def test_sigterm_lets_the_answer_in_progress_finish(write_config, model_path):
    process, health, api, _ = await start_http_run(write_config, model_path, grace=300,
                                                max_tokens=120)
    try:
        async with client() as session:
            response = await stream_until_first_delta(session, api)
            process.send_signal(signal.SIGTERM)
            # Orchestrators see the replica going away while it still finishes the answer,
            # and a new question is told to come back.
            assert await health_once_signalled(session, health) == (503, "stopping")
            async with session.post(api, json={"text": "hi"}) as refused:
                assert refused.status == 503 and refused.headers["Retry-After"]
                assert "stopping" in (await refused.json())["error"]
            final = await read_final(response)
        assert final["kind"] == "answer"
        assert "restarting" not in final["text"]
        _, stderr = await asyncio.wait_for(process.communicate(), STOP_WAIT)
        assert process.returncode == 0
        assert "babeldesk: stopping: finishing 1 answers in progress" in stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()


async def test_sigterm_past_the_grace_period_cuts_the_answer_with_a_notice(write_config,
                                                                           model_path):
    process, health, api, _ = await start_http_run(write_config, model_path, grace=0,
                                                max_tokens=120)
    try:
        async with client() as session:
            response = await stream_until_first_delta(session, api)
            process.send_signal(signal.SIGTERM)
            final = await read_final(response)
        assert final["kind"] == "interrupted"
        assert final["text"].endswith("(babeldesk is restarting, so this answer was cut short. "
                                      "Please ask again in a minute.)")
        _, stderr = await asyncio.wait_for(process.communicate(), STOP_WAIT)
        assert process.returncode == 0
        assert "babeldesk: 1 answers were cut short" in stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
