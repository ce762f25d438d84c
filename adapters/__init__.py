"""Chat platforms: each turns its events into `bot.message.Message` and renders the `Reply`.

A platform is one module here that sets `ADAPTER` to its class. The class has `name`,
`Settings` (a dataclass of its keys under `adapters.<name>` in the config, with `validate`),
and, when `babeldesk run` serves it, `from_config(config, pipeline)` (None when disabled;
`AdapterError` when a secret is missing), `async start()` (`AdapterError` when the platform
rejects it) and `async stop()`. The reply protocol every platform shares (streaming edits,
splitting, buttons, handoff, cancellation) is in `reply.py`. Adding a platform is one module
here and its documentation; nothing in `bot/` changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import pkgutil
import signal
from functools import lru_cache
from typing import Any, Callable, Protocol

from aiohttp import web

from bot.config import Config, build_section
from bot.core import Core
from bot.errors import AdapterError, ConfigError
from bot.pipeline import Pipeline

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def platforms() -> dict[str, Any]:
    """Platform name → its adapter class, or the ImportError that keeps it from loading (a
    library missing from this install): every module of this package that sets ADAPTER."""
    found: dict[str, Any] = {}
    for module in pkgutil.iter_modules(__path__):
        try:
            loaded = importlib.import_module(f"{__name__}.{module.name}")
        except ImportError as exc:
            found[module.name] = exc
            continue
        adapter = getattr(loaded, "ADAPTER", None)
        if adapter is not None:
            found[adapter.name] = adapter
    return found


def setting_types() -> dict[str, type]:
    """Platform name → the dataclass of its keys under `adapters.<name>`."""
    return {name: adapter.Settings for name, adapter in platforms().items()
            if not isinstance(adapter, ImportError)}


def settings(config: Config, adapter: Any) -> Any:
    """The typed, validated settings of one platform: `adapters.<name>` in the config."""
    return build_section(adapter.Settings, config.adapters.get(adapter.name),
                         f"adapters.{adapter.name}", config)


def check_settings(config: Config) -> None:
    """Check every platform's settings at start; ConfigError names the key."""
    known = platforms()
    for name in config.adapters:
        if name not in known:
            raise ConfigError(f"adapters.{name}", "no such platform; babeldesk has "
                              + ", ".join(sorted(known)))
    for adapter in known.values():
        if not isinstance(adapter, ImportError):
            settings(config, adapter)


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


async def listen(app: web.Application, host: str, port: int, key: str,
                 handler_cancellation: bool = False) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port (0: any free port); AdapterError naming `key` when the
    address is taken. Returns the runner and the port. `handler_cancellation`: a request's
    handler is cancelled when its client disconnects."""
    runner = web.AppRunner(app, access_log=None, handler_cancellation=handler_cancellation)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise AdapterError(f"cannot listen on {host}:{port} ({key}): {exc.strerror}") from None
    return runner, site._server.sockets[0].getsockname()[1]


async def stop_listening(runner: web.AppRunner | None) -> None:
    """Close the listening sockets; requests being answered go on."""
    if runner:
        for site in list(runner.sites):
            await site.stop()


async def start_adapters(config: Config, pipeline: Pipeline, say=print,
                         status: dict[str, str] | None = None) -> list[Adapter]:
    """Start every platform that is enabled and has its credentials; one line for each that
    cannot start, and the others still run."""
    running = []
    status = {} if status is None else status
    for platform, cls in platforms().items():
        if isinstance(cls, ImportError):
            status[platform] = f"not installed ({cls.name}); reinstall babeldesk"
            say(f"{platform}: {status[platform]}")
            continue
        if not hasattr(cls, "from_config"):
            continue  # a platform of its own command (the terminal's `babeldesk chat`)
        try:
            adapter = cls.from_config(config, pipeline)
            if adapter is None:
                status[platform] = "disabled"
                continue
            await adapter.start()
        except AdapterError as exc:
            status[platform] = str(exc)
        else:
            status[platform] = "connected"
            running.append(adapter)
        say(f"{platform}: {status[platform]}")
    return running


async def serve(config: Config, open_core: Callable[[], Core], say=print) -> int:
    """Open the core, run the chat platforms until SIGTERM or SIGINT; 1 when none could start.

    /healthz answers 503 from the first moment (while the model loads) and 200 once the
    platforms are connected. Stopping takes no new messages, lets the answers in progress
    finish (for at most `server.shutdown_grace` seconds, after which they are cut short with a
    notice) and then disconnects and closes the databases.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    status = None
    core = None
    try:
        if config.server.enabled:
            from .status import StatusServer

            status = StatusServer(None, config.server.host, config.server.port)
            await status.start()
            say(f"health on http://{config.server.host}:{status.port}/healthz, "
                f"metrics on /metrics")
        opening = asyncio.ensure_future(asyncio.to_thread(open_core))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([opening, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if stop.is_set():
            say("stopped before start-up finished")
            core = await opening
            return 0
        core = opening.result()
        pipeline = core.pipeline
        if status:
            status.pipeline = pipeline
        running = await start_adapters(config, pipeline, say,
                                       status.platforms if status else None)
        if not running:
            say("no chat platform is running: see the lines above")
            return 1
        if status:
            status.state = "serving"
        await stop.wait()
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
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if status:
            await status.stop()
        if core is not None:
            await asyncio.to_thread(core.close)
