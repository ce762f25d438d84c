"""The example shop (examples/shop.py) that the actions example, the benchmark and end-to-end
tests call: its endpoints, its token, its errors, and examples/shop-config.yaml loaded by
babeldesk and called against it."""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import signal
import sys

import aiohttp
import pytest
import yaml

from bot.actions import MAX_RESPONSE_BYTES, load_actions
from bot.config import load_config
from bot.errors import ConfigError
from helpers import ROOT, import_shop, shop_actions

EXAMPLES = ROOT / "examples"
TOKEN = "t0ken-for-the-shop-tests"
#: a generous deadline for a busy machine, never a wait that a passing test sits through
DEADLINE = 60


shop = import_shop()

STATUSES = {"processing", "shipped", "delivered", "cancelled"}
SEEDED = {"48213": "shipped", "48214": "processing", "48215": "delivered",
          "51007": "processing", "60230": "cancelled", "73311": "shipped",
          "10234": "delivered", "99120": "processing"}


class Shop:
    def __init__(self, runner, base, app, session):
        self.runner, self.base, self.app, self.session = runner, base, app, session

    async def request(self, method: str, path: str, token: str | None = TOKEN,
                      **kwargs) -> tuple[int, object, aiohttp.ClientResponse]:
        """The status, the JSON answer and the response; fails unless the answer is JSON
        babeldesk would read."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with self.session.request(method, self.base + path, headers=headers,
                                        allow_redirects=False, **kwargs) as response:
            raw = await response.read()
            assert response.content_type == "application/json", (path, response.content_type)
            assert len(raw) <= MAX_RESPONSE_BYTES
            return response.status, await response.json(), response

    @property
    def orders(self) -> dict:
        return self.app[shop.ORDERS_KEY]

    @property
    def tickets(self) -> dict:
        return self.app[shop.TICKETS_KEY]

    @property
    def requests(self) -> list:
        return self.app[shop.REQUESTS_KEY]


@pytest.fixture
async def session():
    async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=DEADLINE)) as session:
        yield session


@pytest.fixture
async def service(session):
    runner, base, app = await shop.start(token=TOKEN)
    try:
        yield Shop(runner, base, app, session)
    finally:
        await runner.cleanup()


# -- the endpoints --

async def test_start_binds_a_free_port_and_health_needs_no_token(service):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", service.base)
    assert not service.base.endswith(":0")
    status, body, _ = await service.request("GET", "/health", token=None)
    assert (status, body) == (200, {"ok": True})
    assert service.requests == []  # probes would bury what tests look for


async def test_every_seeded_order_is_answered_in_full(service):
    assert {k: v["status"] for k, v in service.orders.items()} == SEEDED
    assert set(SEEDED.values()) == STATUSES
    for order_id, wanted in SEEDED.items():
        status, order, _ = await service.request("GET", f"/orders/{order_id}")
        assert status == 200
        assert set(order) == {"order_id", "status", "carrier", "tracking_number",
                              "expected_delivery", "items"}
        assert order["order_id"] == order_id and order["status"] == wanted
        if wanted in ("shipped", "delivered"):
            assert order["carrier"] and order["tracking_number"]
            datetime.date.fromisoformat(order["expected_delivery"])
        if wanted == "processing":
            datetime.date.fromisoformat(order["expected_delivery"])
        assert order["items"] and all(
            set(item) == {"name", "quantity"} and isinstance(item["name"], str)
            and isinstance(item["quantity"], int) and item["quantity"] > 0
            for item in order["items"])
    _, order, _ = await service.request("GET", "/orders/48213")
    assert order == {"order_id": "48213", "status": "shipped", "carrier": "DHL",
                     "tracking_number": "JD014600003828", "expected_delivery": "2025-03-14",
                     "items": [{"name": "Kettlebird Classic 1.7 L", "quantity": 1}]}


@pytest.mark.parametrize("method, path", [
    ("GET", "/orders/12345"),
    ("POST", "/orders/12345/cancel"),
    ("GET", "/orders/..%2F48213"),
])
async def test_an_unknown_order_is_a_json_404(service, method, path):
    status, body, _ = await service.request(method, path)
    assert (status, body) == (404, {"error": "no such order"})


async def test_an_order_still_processing_is_cancelled(service):
    status, body, _ = await service.request("POST", "/orders/99120/cancel")
    assert (status, body) == (200, {"order_id": "99120", "status": "cancelled"})
    _, order, _ = await service.request("GET", "/orders/99120")
    assert order["status"] == "cancelled" and order["expected_delivery"] is None
    # a retry after a lost answer is not an error
    status, body, _ = await service.request("POST", "/orders/99120/cancel")
    assert (status, body) == (200, {"order_id": "99120", "status": "cancelled"})
    status, body, _ = await service.request("POST", "/orders/60230/cancel")
    assert (status, body) == (200, {"order_id": "60230", "status": "cancelled"})


@pytest.mark.parametrize("order_id", ["48213", "73311", "48215", "10234"])
async def test_a_shipped_or_delivered_order_is_not_cancelled(service, order_id):
    before = service.orders[order_id]["status"]
    status, body, _ = await service.request("POST", f"/orders/{order_id}/cancel")
    assert (status, body) == (409, {"error": "already shipped"})
    assert service.orders[order_id]["status"] == before


async def test_tickets_are_numbered_from_t_1001_and_read_back(service):
    status, first, _ = await service.request(
        "POST", "/tickets", json={"summary": "The lid arrived cracked.", "order_id": "48215"})
    assert (status, first) == (201, {"id": "T-1001", "status": "open",
                                     "summary": "The lid arrived cracked.",
                                     "order_id": "48215"})
    status, second, _ = await service.request("POST", "/tickets",
                                              json={"summary": "x" * shop.MAX_SUMMARY})
    assert status == 201 and second["id"] == "T-1002" and second["order_id"] is None
    status, third, _ = await service.request("POST", "/tickets",
                                             json={"summary": "Refund?", "order_id": None})
    assert status == 201 and third["id"] == "T-1003"
    for ticket in (first, second, third):
        status, body, _ = await service.request("GET", f"/tickets/{ticket['id']}")
        assert (status, body) == (200, ticket)
    assert list(service.tickets) == ["T-1001", "T-1002", "T-1003"]
    status, body, _ = await service.request("GET", "/tickets/T-1004")
    assert (status, body) == (404, {"error": "no such ticket"})


@pytest.mark.parametrize("body, words", [
    ({}, "summary is required"),
    ({"summary": ""}, "summary is required"),
    ({"summary": "   "}, "summary is required"),
    ({"summary": 42}, "summary is required"),
    ({"summary": "x" * 301}, "longer than 300"),
    ({"summary": "Broken", "order_id": 48213}, "order_id must be a string"),
    ({"summary": "Broken", "subject": "Order 48213"}, "unknown field 'subject'"),
    (["Broken"], "JSON object"),
    ("not json", "JSON object"),
])
async def test_a_bad_ticket_is_a_400_and_opens_nothing(service, body, words):
    sent = {"data": body} if isinstance(body, str) else {"json": body}
    status, answer, _ = await service.request("POST", "/tickets", **sent)
    assert status == 400 and words in answer["error"], answer
    assert service.tickets == {}
    status, ticket, _ = await service.request("POST", "/tickets", json={"summary": "ok"})
    assert (status, ticket["id"]) == (201, "T-1001")


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/orders/48213", None),
    ("GET", "/orders/12345", None),
    ("POST", "/orders/99120/cancel", None),
    ("POST", "/tickets", {"summary": "Broken"}),
    ("GET", "/tickets/T-1001", None),
    ("GET", "/nowhere", None),
])
@pytest.mark.parametrize("token", [None, "demo-token", TOKEN + "x", ""])
async def test_without_the_token_every_request_is_a_json_401(service, method, path, body,
                                                              token):
    kwargs = {"json": body} if body is not None else {}
    status, answer, response = await service.request(method, path, token=token, **kwargs)
    assert (status, answer) == (401, {"error": "missing or wrong token"})
    assert response.headers["WWW-Authenticate"] == "Bearer"
    # nothing changed
    assert service.orders["99120"]["status"] == "processing" and service.tickets == {}


async def test_a_token_that_is_not_bearer_is_refused(service):
    async with service.session.get(service.base + "/orders/48213",
                                   headers={"Authorization": TOKEN}) as response:
        assert response.status == 401


async def test_unknown_paths_and_methods_answer_json_too(service):
    status, body, _ = await service.request("GET", "/nowhere")
    assert (status, body) == (404, {"error": "not found"})
    status, body, _ = await service.request("DELETE", "/orders/48213")
    assert (status, body) == (405, {"error": "method not allowed"})


async def test_requests_are_remembered_with_their_json_bodies(service):
    await service.request("GET", "/orders/48213")
    await service.request("POST", "/tickets", json={"summary": "Broken", "order_id": "48213"})
    await service.request("POST", "/orders/99120/cancel")
    await service.request("GET", "/orders/48213", token=None)
    await service.request("POST", "/tickets", data="oops")
    assert service.requests == [
        ("GET", "/orders/48213", None),
        ("POST", "/tickets", {"summary": "Broken", "order_id": "48213"}),
        ("POST", "/orders/99120/cancel", None),
        ("GET", "/orders/48213", None),
        ("POST", "/tickets", "oops"),
    ]


async def test_each_app_has_its_own_state(service):
    runner, base, other = await shop.start(token="another")
    try:
        await service.request("POST", "/orders/99120/cancel")
        await service.request("POST", "/tickets", json={"summary": "Broken"})
        assert other[shop.ORDERS_KEY]["99120"]["status"] == "processing"
        assert shop.SEEDED_ORDERS["99120"]["status"] == "processing"
        assert other[shop.TICKETS_KEY] == {} and other[shop.REQUESTS_KEY] == []
        async with service.session.post(base + "/tickets", json={"summary": "Other"},
                                        headers={"Authorization": "Bearer another"}) as r:
            assert r.status == 201 and (await r.json())["id"] == "T-1001"
    finally:
        await runner.cleanup()


def test_make_app_needs_a_token():
    with pytest.raises(ValueError):
        shop.make_app("")


async def test_the_command_logs_its_address_and_serves_with_shop_token(session, tmp_path):
    env = {**os.environ, "SHOP_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / "shop.py"), "--port", "0", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(process.stderr.readline(), DEADLINE)).decode()
        found = re.search(r"shop example listening on (http://127\.0\.0\.1:\d+) "
                          r"\(token from SHOP_TOKEN\)$", line.strip())
        assert found, line
        base = found.group(1)
        async with session.get(base + "/orders/48213",
                               headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 200 and (await response.json())["status"] == "shipped"
        async with session.get(base + "/orders/48213",
                               headers={"Authorization": "Bearer demo-token"}) as response:
            assert response.status == 401
        # docker stop: a clean exit
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), DEADLINE) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    # both pipes to their end, so that the transport is closed before the loop is
    stdout, rest = await process.stdout.read(), await process.stderr.read()
    assert stdout == b""  # one log line, no print
    assert b"Traceback" not in rest, rest.decode()


# -- examples/shop-config.yaml, as babeldesk loads and calls it --

def shop_config(tmp_path, base: str | None = None):
    """A babeldesk config with the example's actions; their URLs moved to `base`."""
    (tmp_path / "knowledge").mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(shop_actions(base), allow_unicode=True), encoding="utf-8")
    return load_config(path)


def test_the_example_config_runs_babeldesk_on_the_sample_knowledge(monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    config = load_config(EXAMPLES / "shop-config.yaml")
    assert config.knowledge.path == ROOT / "knowledge"
    assert len(load_actions(config)) == 3


def test_the_fragment_loads_with_babeldesks_loader(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    actions = load_actions(shop_config(tmp_path))
    assert actions.names == ["order_status", "open_ticket", "cancel_order", "handoff",
                             "search_knowledge"]
    assert actions.hosts == ["127.0.0.1", "localhost"]
    assert not actions.get("order_status").confirm
    assert actions.get("open_ticket").confirm and actions.get("cancel_order").confirm
    # the shop's seeded order numbers are ones the model may pass
    for order_id in SEEDED:
        assert actions.check_arguments("order_status", {"order_id": order_id},
                                       f"where is my order {order_id}?") is None


def test_the_fragment_needs_shop_token_in_babeldesks_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("SHOP_TOKEN", raising=False)
    with pytest.raises(ConfigError) as caught:
        shop_config(tmp_path)
    assert caught.value.key == "actions[0].request.headers.Authorization"
    assert "SHOP_TOKEN is not set" in str(caught.value)


async def test_each_action_of_the_fragment_works_against_the_shop(tmp_path, monkeypatch,
                                                                  service):
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    actions = load_actions(shop_config(tmp_path, service.base))

    result = await actions.call("order_status", {"order_id": "73311"})
    assert result.status == "ok", result.error
    assert result.data == {
        "status": "shipped", "carrier": "UPS", "tracking_number": "1Z999AA10123456784",
        "expected_delivery": "2025-03-15",
        "items": [{"name": "Kettlebird KB-2 smart kettle 1.7 L", "quantity": 1},
                  {"name": "Power base", "quantity": 1}]}
    result = await actions.call("order_status", {"order_id": "12345"})
    assert (result.status, result.error) == ("failed", "the service answered 404")

    arguments = {"summary": "The kettle arrived with a cracked lid.", "order_id": "48215"}
    assert (await actions.call("open_ticket", arguments)).status == "refused"
    assert service.tickets == {}
    result = await actions.call("open_ticket", arguments, confirmed=True)
    assert (result.status, result.data) == ("ok", {"id": "T-1001", "status": "open"})
    result = await actions.call("open_ticket", {"summary": "A refund, please."},
                                confirmed=True)
    assert (result.status, result.data) == ("ok", {"id": "T-1002", "status": "open"})
    assert service.tickets["T-1001"]["order_id"] == "48215"
    assert service.tickets["T-1002"]["order_id"] is None

    assert (await actions.call("cancel_order", {"order_id": "48214"})).status == "refused"
    result = await actions.call("cancel_order", {"order_id": "48214"}, confirmed=True)
    assert (result.status, result.data) == ("ok", {"status": "cancelled"})
    result = await actions.call("cancel_order", {"order_id": "48213"}, confirmed=True)
    assert (result.status, result.error) == ("failed", "the service answered 409")

    # the requests as the shop saw them: the bodies babeldesk built from the arguments
    assert service.requests == [
        ("GET", "/orders/73311", None),
        ("GET", "/orders/12345", None),
        ("POST", "/tickets", arguments),
        ("POST", "/tickets", {"summary": "A refund, please."}),
        ("POST", "/orders/48214/cancel", None),
        ("POST", "/orders/48213/cancel", None),
    ]
    assert service.orders["48214"]["status"] == "cancelled"
    assert service.orders["48213"]["status"] == "shipped"

    # babeldesk reads the token when it sends a request: a wrong one is the shop's 401
    monkeypatch.setenv("SHOP_TOKEN", "not-the-shops-token")
    result = await actions.call("order_status", {"order_id": "48213"})
    assert (result.status, result.error) == ("failed", "the service answered 401")
