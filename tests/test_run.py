"""`babeldesk run`: the chat platforms in one process, started from the environment."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest
from fake_slack import FakeSlack, app_mention, envelope

pytestmark = pytest.mark.model


async def start_run(config, env):
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "--config", str(config.origin), "run",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}, **env})


async def test_run_answers_on_slack_and_stops_on_sigterm(write_config, model_path):
    fake = await FakeSlack().start()
    config = write_config(model={"source": "path", "path": str(model_path), "max_tokens": 64},
                          adapters={"slack": {"api_url": fake.api_url}})
    process = await start_run(config, {"SLACK_BOT_TOKEN": "xoxb-run",
                                       "SLACK_APP_TOKEN": "xapp-run"})
    try:
        await fake.wait_for_socket(timeout=120)
        await fake.push(envelope(app_mention("How do I reset my password?")))
        await fake.wait_for(lambda: any(c.params.get("blocks")
                                        for c in fake.calls_to("chat.update")))
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, stderr.decode()
        assert "babeldesk: slack: connected" in stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
        await fake.stop()


async def test_run_without_tokens_says_so_in_one_line(write_config, model_path):
    config = write_config(model={"source": "path", "path": str(model_path)})
    process = await start_run(config, {})
    _, stderr = await asyncio.wait_for(process.communicate(), 120)
    lines = stderr.decode().strip().splitlines()
    assert process.returncode == 1
    assert lines == ["babeldesk: slack: not started: set SLACK_BOT_TOKEN and SLACK_APP_TOKEN "
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
        _, stderr = await asyncio.wait_for(process.communicate(), 120)
    finally:
        await fake.stop()
    assert process.returncode == 1
    assert stderr.decode().splitlines()[0] == (
        "babeldesk: slack: Slack rejected the bot token in SLACK_BOT_TOKEN: invalid_auth")
