"""Chat platforms: each turns its events into `bot.message.Message` and renders the `Reply`.

An adapter is a class with `name`, `from_config(config, pipeline)` (None when disabled;
`AdapterError` when a secret is missing), `async start()` (`AdapterError` when the platform
rejects it) and `async stop()`. Adding a platform is one module here and one line below.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from typing import Protocol

from bot.config import Config
from bot.errors import AdapterError
from bot.pipeline import Pipeline

log = logging.getLogger(__name__)

#: platform name → "module:class" of its adapter
PLATFORMS = {"slack": "adapters.slack:SlackAdapter"}


class Adapter(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def load(platform: str):
    module, _, cls = PLATFORMS[platform].partition(":")
    return getattr(importlib.import_module(module), cls)


async def start_adapters(config: Config, pipeline: Pipeline, say=print) -> list[Adapter]:
    """Start every platform that is enabled and has its credentials; one line for each that
    cannot start, and the others still run."""
    running = []
    for platform in PLATFORMS:
        try:
            adapter = load(platform).from_config(config, pipeline)
            if adapter is None:
                continue
            await adapter.start()
        except ImportError as exc:
            say(f"{platform}: not installed ({exc.name}); reinstall babeldesk")
        except AdapterError as exc:
            say(f"{platform}: {exc}")
        else:
            say(f"{platform}: connected")
            running.append(adapter)
    return running


async def serve(config: Config, pipeline: Pipeline, say=print) -> int:
    """Run the chat platforms until SIGTERM or SIGINT; 1 when none could start."""
    running = await start_adapters(config, pipeline, say)
    if not running:
        say("no chat platform is running: see the lines above")
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    say("stopping")
    for adapter in running:
        try:
            await adapter.stop()
        except Exception:
            log.exception("%s: stopping failed", adapter.name)
    return 0
