"""The example shop that babeldesk's actions talk to: a few Kettlebird orders and a ticket
desk over HTTP, in memory, for the actions in examples/shop-config.yaml: the README's actions
example, the benchmark and end-to-end tests call it.

    SHOP_TOKEN=demo-token python examples/shop.py [--host 127.0.0.1] [--port 8765]

Every request but `GET /health` must carry `Authorization: Bearer <SHOP_TOKEN>`. Every answer
is JSON (babeldesk reads nothing else), errors included, as `{"error": "..."}`.

    GET  /orders/{order_id}          the order, or 404
    POST /orders/{order_id}/cancel   cancelled if still processing; 409 once it has shipped
    POST /tickets                    {"summary": "...", "order_id": "48213"} -> 201, T-1001, ...
    GET  /tickets/{id}               the ticket, or 404
    GET  /health                     {"ok": true}, without a token

Tests and benchmarks start it in their own event loop with `start()`.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hmac
import json
import logging
import os
import signal
from typing import Any

from aiohttp import web

log = logging.getLogger("shop")

DEFAULT_TOKEN = "demo-token"
DEFAULT_PORT = 8765
MAX_SUMMARY = 300
FIRST_TICKET = 1001

#: order number → order, as `GET /orders/{order_id}` answers; each app works on its own copy
SEEDED_ORDERS: dict[str, dict[str, Any]] = {
    "48213": {"status": "shipped", "carrier": "DHL", "tracking_number": "JD014600003828",
              "expected_delivery": "2025-03-14",
              "items": [{"name": "Kettlebird Classic 1.7 L", "quantity": 1}]},
    "48214": {"status": "processing", "carrier": None, "tracking_number": None,
              "expected_delivery": "2025-03-18",
              "items": [{"name": "Kettlebird KB-2 smart kettle 1.7 L", "quantity": 1},
                        {"name": "Limescale filter", "quantity": 2}]},
    "48215": {"status": "delivered", "carrier": "PostNL", "tracking_number": "3SKBRD0048215",
              "expected_delivery": "2025-03-07",
              "items": [{"name": "Kettlebird Classic 1.7 L", "quantity": 2},
                        {"name": "Limescale filter", "quantity": 1}]},
    "51007": {"status": "processing", "carrier": None, "tracking_number": None,
              "expected_delivery": "2025-03-20",
              "items": [{"name": "Replacement lid", "quantity": 1}]},
    "60230": {"status": "cancelled", "carrier": None, "tracking_number": None,
              "expected_delivery": None,
              "items": [{"name": "Kettlebird KB-2 smart kettle 1.7 L", "quantity": 1}]},
    "73311": {"status": "shipped", "carrier": "UPS", "tracking_number": "1Z999AA10123456784",
              "expected_delivery": "2025-03-15",
              "items": [{"name": "Kettlebird KB-2 smart kettle 1.7 L", "quantity": 1},
                        {"name": "Power base", "quantity": 1}]},
    "10234": {"status": "delivered", "carrier": "DPD", "tracking_number": "01234567890123",
              "expected_delivery": "2025-02-26",
              "items": [{"name": "Limescale filter", "quantity": 4}]},
    "99120": {"status": "processing", "carrier": None, "tracking_number": None,
              "expected_delivery": "2025-03-21",
              "items": [{"name": "Kettlebird Classic 1.7 L", "quantity": 1},
                        {"name": "Replacement lid", "quantity": 1}]},
}

#: the app's state, for tests to look at and change: aiohttp wants typed keys, not strings
ORDERS_KEY = web.AppKey("orders", dict)
TICKETS_KEY = web.AppKey("tickets", dict)
#: (method, path, body) of every request but /health, oldest first: the body as JSON, its text
#: if it is not JSON, None without one
REQUESTS_KEY = web.AppKey("requests", list)
TOKEN_KEY = web.AppKey("token", str)


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def _json_errors(request: web.Request, handler) -> web.StreamResponse:
    # aiohttp's own 404, 405 and 413 are text/plain: whoever reads the shop's errors (a test,
    # curl) would need a second format for them
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason.lower())


@web.middleware
async def _remember(request: web.Request, handler) -> web.StreamResponse:
    # readiness probes poll /health; they would bury the requests that tests look for
    if request.path != "/health":
        body = None
        if request.body_exists:
            text = await request.text()
            try:
                body = json.loads(text)
            except ValueError:
                body = text
        request.app[REQUESTS_KEY].append((request.method, request.path, body))
    return await handler(request)


@web.middleware
async def _authorize(request: web.Request, handler) -> web.StreamResponse:
    if request.path == "/health":
        return await handler(request)
    given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    wanted = f"Bearer {request.app[TOKEN_KEY]}".encode()
    if not hmac.compare_digest(given, wanted):
        return _error(401, "missing or wrong token", **{"WWW-Authenticate": "Bearer"})
    return await handler(request)


def _order(request: web.Request) -> tuple[str, dict | None]:
    order_id = request.match_info["order_id"]
    return order_id, request.app[ORDERS_KEY].get(order_id)


async def get_order(request: web.Request) -> web.Response:
    order_id, order = _order(request)
    if order is None:
        return _error(404, "no such order")
    return web.json_response({"order_id": order_id, **order})


async def cancel_order(request: web.Request) -> web.Response:
    order_id, order = _order(request)
    if order is None:
        return _error(404, "no such order")
    if order["status"] in ("shipped", "delivered"):
        return _error(409, "already shipped")
    # a cancelled order cancels again without complaint: a retry after a lost answer is fine
    order["status"] = "cancelled"
    order["expected_delivery"] = None
    return web.json_response({"order_id": order_id, "status": "cancelled"})


async def open_ticket(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "the body must be a JSON object")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    # an unknown field is most likely a mistake in the action's request.body: say so
    unknown = sorted(set(body) - {"summary", "order_id"})
    if unknown:
        return _error(400, f"unknown field {unknown[0]!r}; only summary and order_id")
    summary = body.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        return _error(400, "summary is required: a non-empty string")
    if len(summary) > MAX_SUMMARY:
        return _error(400, f"summary is longer than {MAX_SUMMARY} characters")
    order_id = body.get("order_id")
    if order_id is not None and not isinstance(order_id, str):
        return _error(400, "order_id must be a string")
    tickets = request.app[TICKETS_KEY]
    ticket = {"id": f"T-{FIRST_TICKET + len(tickets)}", "status": "open",
              "summary": summary.strip(), "order_id": order_id}
    tickets[ticket["id"]] = ticket
    return web.json_response(ticket, status=201)


async def get_ticket(request: web.Request) -> web.Response:
    ticket = request.app[TICKETS_KEY].get(request.match_info["id"])
    if ticket is None:
        return _error(404, "no such ticket")
    return web.json_response(ticket)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def make_app(token: str) -> web.Application:
    """The shop with the seeded orders, no tickets and its own state; every request but
    /health needs `Authorization: Bearer <token>`."""
    if not token:
        raise ValueError("the shop needs a token")
    app = web.Application(middlewares=[_json_errors, _remember, _authorize])
    app[TOKEN_KEY] = token
    app[ORDERS_KEY] = copy.deepcopy(SEEDED_ORDERS)
    app[TICKETS_KEY] = {}
    app[REQUESTS_KEY] = []
    app.add_routes([
        web.get("/orders/{order_id}", get_order),
        web.post("/orders/{order_id}/cancel", cancel_order),
        web.post("/tickets", open_ticket),
        web.get("/tickets/{id}", get_ticket),
        web.get("/health", health),
    ])
    return app


async def _serve(app: web.Application, host: str, port: int,
                 access_log: bool) -> tuple[web.AppRunner, str]:
    options = {} if access_log else {"access_log": None}
    # a test's cleanup should not wait for a client that keeps its connection open
    runner = web.AppRunner(app, shutdown_timeout=0.5, **options)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]  # port 0: the one the system chose
    shown = f"[{host}]" if ":" in host else host
    return runner, f"http://{shown}:{bound}"


async def start(host: str = "127.0.0.1", port: int = 0,
                token: str = DEFAULT_TOKEN) -> tuple[web.AppRunner, str, web.Application]:
    """Start the shop in the running event loop: the runner (`await runner.cleanup()` stops
    it), the base URL with the port actually bound, and the app with its state."""
    app = make_app(token)
    runner, url = await _serve(app, host, port, access_log=False)
    return runner, url, app


async def _run(host: str, port: int, token: str) -> None:
    runner, url = await _serve(make_app(token), host, port, access_log=True)
    log.info("shop example listening on %s (token from SHOP_TOKEN)", url)
    stop = asyncio.Event()
    try:
        # in a container, docker stop sends SIGTERM: stop as cleanly as on Ctrl-C
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    except (NotImplementedError, RuntimeError):  # Windows
        pass
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The example shop for babeldesk's actions.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    token = os.environ.get("SHOP_TOKEN") or DEFAULT_TOKEN
    try:
        asyncio.run(_run(args.host, args.port, token))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
