"""Small builders shared by the tests."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bot.message import Message

ROOT = Path(__file__).resolve().parent.parent


def message(text, channel="C1", thread="", platform="test", workspace="T1", author="U1",
            locale=""):
    return Message(platform=platform, workspace=workspace, channel=channel, thread=thread,
                   author=author, text=text, locale=locale)


def wait_until(condition, timeout: float = 120.0, step: float = 0.05) -> bool:
    """Poll until `condition()` holds; the timeout is generous because CI machines are shared
    (a deadline, not an expectation: an idle machine passes at once)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


#: where examples/shop-config.yaml expects the example shop
SHOP_BASE = "http://127.0.0.1:8765"


def import_shop():
    """examples/shop.py, imported from its file as the README runs it (examples/ is not a
    package); imported once."""
    import importlib.util
    import sys

    name = "babeldesk_example_shop"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / "shop.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def shop_actions(base_url: str | None = None) -> dict:
    """`actions:` and `action_hosts:` of examples/shop-config.yaml, pointed at a shop started
    on `base_url` (a test's port instead of 8765)."""
    import yaml

    data = yaml.safe_load((ROOT / "examples" / "shop-config.yaml").read_text("utf-8"))
    fragment = {key: data[key] for key in ("actions", "action_hosts")}
    for action in fragment["actions"]:
        url = action["request"]["url"]
        assert url.startswith(SHOP_BASE + "/"), url
        if base_url is not None:
            action["request"]["url"] = base_url.rstrip("/") + url[len(SHOP_BASE):]
    return fragment


async def serve(app) -> tuple[object, str]:
    """An aiohttp app started on 127.0.0.1 at a free port: its runner (for cleanup) and its
    address."""
    from aiohttp import web

    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


class FakeOpenAI(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat server (vLLM, Mistral's API) that records each request's
    body and streams `reply` back."""

    received: list[dict] = []
    reply = "Sure."

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.received.append(body)
        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m",
                 "choices": [{"index": 0, "delta": {"role": "assistant",
                                                    "content": FakeOpenAI.reply},
                              "finish_reason": None}]}
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def fake_openai(reply: str = "Sure."):
    """A FakeOpenAI on 127.0.0.1, its requests cleared; yields its /v1 base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeOpenAI.received.clear()
    FakeOpenAI.reply = reply
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()
