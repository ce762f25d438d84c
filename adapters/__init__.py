"""Chat platforms: each turns its events into `bot.message.Message` and renders the `Reply`.

An adapter is a class with `name`, `from_config(config, pipeline)` (None when disabled;
`AdapterError` when a secret is missing), `async start()` (`AdapterError` when the platform
rejects it) and `async stop()`. Adding a platform is one module here and one line below.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from typing import Callable, Protocol

from bot.config import Config
from bot.errors import AdapterError
from bot.pipeline import Pipeline
from .status import StatusServer

log = logging.getLogger(__name__)

#: platform name → "module:class" of its adapter
PLATFORMS = {"slack": "adapters.slack:SlackAdapter",
             "discord": "adapters.discord:DiscordAdapter",
             "http": "adapters.http:HttpAdapter"}


class Adapter(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Take no new messages, let the answers in progress be posted, then disconnect."""


class Handlers:
    """The message handlers an adapter is running, so that stopping can wait for them."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task] = set()

    @contextlib.contextmanager
    def track(self):
        task = asyncio.current_task()
        self.tasks.add(task)
        try:
            yield
        finally:
            self.tasks.discard(task)

    async def wait(self, timeout: float) -> None:
        pending = [t for t in self.tasks if t is not asyncio.current_task() and not t.done()]
        if pending:
            log.info("waiting for %d answers in progress", len(pending))
            await asyncio.wait(pending, timeout=timeout)


def load(platform: str):
    module, _, cls = PLATFORMS[platform].partition(":")
    return getattr(importlib.import_module(module), cls)


async def start_adapters(config: Config, pipeline: Pipeline, say=print,
                         status: dict[str, str] | None = None) -> list[Adapter]:
    """Start every platform that is enabled and has its credentials; one line for each that
    cannot start, and the others still run."""
    running = []
    status = {} if status is None else status
    for platform in PLATFORMS:
        try:
            adapter = load(platform).from_config(config, pipeline)
            if adapter is None:
                status[platform] = "disabled"
                continue
            await adapter.start()
        except ImportError as exc:
            status[platform] = f"not installed ({exc.name}); reinstall babeldesk"
        except AdapterError as exc:
            status[platform] = str(exc)
        else:
            status[platform] = "connected"
            running.append(adapter)
        say(f"{platform}: {status[platform]}")
    return running


async def serve(config: Config, pipeline: Pipeline, say=print,
                ready: Callable[[StatusServer | None], None] | None = None) -> int:
    """Run the chat platforms until SIGTERM or SIGINT; 1 when none could start.

    Stopping takes no new messages, lets the answers in progress finish (for at most
    `server.shutdown_grace` seconds, after which they are cut short with a notice) and then
    disconnects.
    """
    status = None
    if config.server.enabled:
        status = StatusServer(pipeline, config.server.host, config.server.port)
        await status.start()
        say(f"health on http://{config.server.host}:{status.port}/healthz, "
            f"metrics on /metrics")
    try:
        running = await start_adapters(config, pipeline, say,
                                       status.platforms if status else None)
        if not running:
            say("no chat platform is running: see the lines above")
            return 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if status:
            status.state = "serving"
        if ready:
            ready(status)
        await stop.wait()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if status:
            status.state = "stopping"
        busy = pipeline.in_progress
        say(f"stopping: finishing {busy} answers in progress" if busy else "stopping")
        drain = asyncio.create_task(pipeline.drain(config.server.shutdown_grace))
        results = await asyncio.gather(*(adapter.stop() for adapter in running),
                                       return_exceptions=True)
        for adapter, result in zip(running, results):
            if isinstance(result, BaseException):
                log.error("%s: stopping failed", adapter.name, exc_info=result)
        cut = await drain
        if cut:
            say(f"{cut} answers were cut short")
        say("stopped")
        return 0
    finally:
        if status:
            await status.stop()
