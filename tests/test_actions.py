"""Actions (bot/actions.py): declared in the config and checked at start, described to the
model, arguments checked (no made-up order number), and requests sent safely to a local
service that this file starts on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest
import yaml
from aiohttp import web

from bot.actions import MAX_RESPONSE_BYTES, ActionConfig, Actions, RequestConfig, load_actions
from bot.config import Config, load_config
from bot.errors import ConfigError
from bot.history import ConversationKey, History
from helpers import ROOT

SECRET = "s3cret-0rders-t0ken-9f2c"
ORDER = {"status": "shipped", "delivery_date": "2025-03-14",
         "items": [{"name": "Kettlebird Classic", "sku": "KB-1"}],
         "internal": {"margin": 0.42, "api_key": "sk-internal-do-not-show"}}
#: a response a little under the cap (MAX_RESPONSE_BYTES) with its JSON around it
FITS = MAX_RESPONSE_BYTES - 100


class Service:
    """Orders and tickets, and the ways a service goes wrong; it remembers every request."""

    def __init__(self):
        self.requests: list[dict] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> "Service":
        app = web.Application(middlewares=[self.remember])
        app.add_routes([
            web.get("/orders/{id}", self.order),
            web.post("/tickets", self.ticket),
            web.get("/slow", self.slow),
            web.get("/big", self.big),
            web.get("/big-chunked", self.big_chunked),
            web.get("/broken", self.broken),
            web.get("/html", self.html),
            web.get("/moved", self.moved),
            web.get("/fits", self.fits),
        ])
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5,
                                    handler_cancellation=True)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        await self.runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @web.middleware
    async def remember(self, request, handler):
        self.requests.append({"method": request.method, "raw_path": request.raw_path,
                              "host": request.host, "headers": dict(request.headers),
                              "body": await request.text()})
        return await handler(request)

    async def order(self, request):
        if request.match_info["id"] != "48213":
            return web.json_response({"error": "no such order"}, status=404)
        return web.json_response(ORDER)

    async def ticket(self, request):
        body = await request.json()
        return web.json_response({"ticket": {"id": "T-1001", "received": body}}, status=201)

    async def slow(self, request):
        await asyncio.sleep(5)
        return web.json_response({"status": "late"})

    async def big(self, request):
        return web.json_response({"status": "x" * 1_000_000})

    async def big_chunked(self, request):
        # without a length, and slowly: a client that reads it all waits until its timeout
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"status": "')
        for _ in range(1000):
            await response.write(b"x" * 10_000)
            await asyncio.sleep(0.01)
        await response.write(b'"}')
        return response

    async def fits(self, request):
        return web.json_response({"status": "x" * FITS})

    async def broken(self, request):
        return web.json_response({"error": "database is down"}, status=500)

    async def html(self, request):
        return web.Response(text="<html><body>Orders</body></html>", content_type="text/html")

    async def moved(self, request):
        raise web.HTTPFound("https://evil.example/steal")


@pytest.fixture
async def service():
    service = await Service().start()
    yield service
    await service.stop()


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("ORDERS_TOKEN", SECRET)


def order_status(url="https://orders.example.com/v1/orders/{order_id}", **extra) -> dict:
    return {"name": "order_status", "description": "Look up an order by its number.",
            "descriptions": {"es": "Consulta un pedido por su número."},
            "parameters": {"type": "object",
                           "properties": {"order_id": {"type": "string"}},
                           "required": ["order_id"]},
            "request": {"url": url, "headers": {"Authorization": "Bearer {env:ORDERS_TOKEN}"}},
            "response_fields": ["status", "delivery_date", "items.0.name", "items.3.name"],
            **extra}


def open_ticket(url="https://helpdesk.example.com/tickets", **extra) -> dict:
    return {"name": "open_ticket", "description": "Open a ticket about an order.",
            "parameters": {"type": "object", "properties": {
                "order_id": {"type": "integer"}, "summary": {"type": "string"},
                "priority": {"enum": ["low", "high"]}},
                "required": ["order_id", "summary", "priority"]},
            "request": {"method": "POST", "url": url,
                        "headers": {"Authorization": "Bearer {env:ORDERS_TOKEN}"},
                        "body": {"order": "{order_id}", "subject": "Order {order_id}: {summary}",
                                 "priority": "{priority}", "tags": ["babeldesk"]}},
            "response_fields": ["ticket.id", "ticket.received"],
            "free_text": ["summary"], "confirm": True, **extra}


def write(tmp_path, data) -> Config:
    (tmp_path / "knowledge").mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_config(path)


def actions_for(tmp_path, service, *actions, **extra) -> Actions:
    return load_actions(write(tmp_path, {"actions": list(actions),
                                         "action_hosts": ["127.0.0.1"], **extra}))


def served(service, **extra):
    """The order and ticket actions pointed at the local service."""
    return [order_status(f"{service.base}/orders/{{order_id}}", **extra),
            open_ticket(f"{service.base}/tickets")]


# -- the config --

def parameters(**properties):
    return {"type": "object", "properties": properties, "required": list(properties)}


ID = {"order_id": {"type": "string"}}


@pytest.mark.parametrize("actions, hosts, key, words", [
    ("order_status", [], "actions", "a list of mappings"),
    (["order_status"], [], "actions[0]", "must be a mapping"),
    ([{**order_status(), "name": ""}], [], "actions[0].name", "is required"),
    ([{**order_status(), "name": "order status"}], [], "actions[0].name", "letters, digits"),
    ([{**order_status(), "name": "handoff"}], [], "actions[0].name", "built in"),
    ([order_status(), open_ticket(), order_status()], [], "actions[2].name",
     "also the name of actions[0]"),
    ([{**order_status(), "description": " "}], [], "actions[0].description", "is required"),
    ([{**order_status(), "descriptions": {"xx": "?"}}], [], "actions[0].descriptions.xx",
     "not one of the configured languages"),
    ([{**order_status(), "retries": 3}], [], "actions[0].retries", "unknown key"),
    ([{**order_status(), "parameters": {"type": "objekt"}}], [], "actions[0].parameters",
     "not a JSON Schema: type: 'objekt' is not valid"),
    ([{**order_status(), "parameters": {"type": "object", "required": "order_id"}}], [],
     "actions[0].parameters", "not a JSON Schema: required:"),
    ([{**order_status(), "parameters": {"type": "string"}}], [], "actions[0].parameters",
     "of type object"),
    ([{**order_status(), "parameters": {**parameters(order_id={
        "$ref": "https://schemas.example.com/order.json"})}}], [], "actions[0].parameters",
     "$ref 'https://schemas.example.com/order.json' points outside the schema"),
    ([{**order_status(), "parameters": {**parameters(**ID), "required": ["order_id", "email"]}}],
     [], "actions[0].parameters.required", "'email' is not in properties"),
    ([{**order_status(), "parameters": parameters(**{"order-id": {"type": "string"}})}], [],
     "actions[0].parameters.properties.order-id", "letters, digits and _"),
    ([{**order_status(), "parameters": "order_id"}], [], "actions[0].parameters", "mapping"),
    ([open_ticket(request={"method": "FETCH", "url": "https://h.example/t"})], [],
     "actions[0].request.method", "must be one of GET, POST"),
    ([order_status("http://orders.example.com/orders/{order_id}")], [],
     "actions[0].request.url", "must be https, or its host listed in action_hosts"),
    ([order_status("http://localhost:8000/orders/{order_id}")], ["orders.internal"],
     "actions[0].request.url", "must be https, or its host listed in action_hosts"),
    ([order_status("ftp://orders.example.com/{order_id}")], [], "actions[0].request.url",
     "must be an https URL"),
    ([order_status("https://orders.example.com/{order}")], [], "actions[0].request.url",
     "{order} is not a parameter"),
    ([order_status("https://{order_id}.example.com/orders")], [], "actions[0].request.url",
     "the host must be written out"),
    ([order_status("https://bot:hunter2@orders.example.com/{order_id}")], [],
     "actions[0].request.url", "user name or password"),
    ([order_status("https://orders.example.com/{order_id}?key={env:ORDERS_TOKEN}")], [],
     "actions[0].request.url", "request.headers only"),
    ([order_status("https://orders.example.com/{order_id}",
                   parameters={**parameters(**ID), "required": []})], [],
     "actions[0].request.url", "{order_id} is not a required parameter"),
    ([order_status(request={"url": ""})], [], "actions[0].request.url", "is required"),
    ([order_status(request={"url": "https:///orders"})], [], "actions[0].request.url",
     "has no host"),
    ([order_status(request={"url": "https://o.example/{order_id}",
                            "headers": {"Authorization": "Bearer {env:NO_SUCH_TOKEN_SET}"}})],
     [], "actions[0].request.headers.Authorization",
     "{env:NO_SUCH_TOKEN_SET}: the environment variable NO_SUCH_TOKEN_SET is not set"),
    ([order_status(request={"url": "https://o.example/{order_id}",
                            "headers": {"X-Order": "{order_id}"}})], [],
     "actions[0].request.headers.X-Order", "customers' values never go in headers"),
    ([order_status(request={"url": "https://o.example/{order_id}",
                            "headers": {"Authorization": "{env:orders-token}"}})], [],
     "actions[0].request.headers.Authorization", "does not name an environment variable"),
    ([order_status(request={"url": "https://o.example/{order_id}",
                            "headers": {"Authorization": 12}})], [],
     "actions[0].request.headers.Authorization", "must be a string"),
    ([open_ticket(request={"method": "POST", "url": "https://h.example/t",
                           "body": {"text": "{details}"}})], [], "actions[0].request.body",
     "{details} is not a parameter"),
    ([open_ticket(request={"method": "POST", "url": "https://h.example/t",
                           "body": {"token": "{env:ORDERS_TOKEN}"}})], [],
     "actions[0].request.body", "request.headers only"),
    ([order_status(request={"url": "https://o.example/{order_id}", "body": {"a": 1}})], [],
     "actions[0].request.body", "a GET request has no body"),
    ([order_status(response_fields=["status", "items..name"])], [],
     "actions[0].response_fields[1]", "dotted path"),
    ([order_status(free_text=["order"])], [], "actions[0].free_text[0]",
     "'order' is not a required parameter"),
    ([order_status(timeout=0)], [], "actions[0].timeout", "more than 0"),
    ([order_status(timeout=600)], [], "actions[0].timeout", "at most 120"),
    ([order_status(confirm="yes")], [], "actions[0].confirm", "true or false"),
    ([order_status()], ["http://orders.internal"], "action_hosts[0]", "host name"),
    ([order_status()], ["orders.internal:8080"], "action_hosts[0]", "host name"),
])
def test_a_bad_action_names_the_key_and_the_problem(tmp_path, actions, hosts, key, words):
    with pytest.raises(ConfigError) as caught:
        write(tmp_path, {"actions": actions, "action_hosts": hosts})
    assert caught.value.key == key
    assert words in str(caught.value)


def test_good_actions_are_typed_and_frozen(tmp_path):
    config = write(tmp_path, {"actions": [order_status(), open_ticket(timeout=3)],
                              "action_hosts": ["LOCALHOST", "::1"]})
    actions = load_actions(config)
    assert len(actions) == 2 and actions.hosts == ["localhost", "::1"]
    ticket = actions.get("open_ticket")
    assert isinstance(ticket, ActionConfig) and isinstance(ticket.request, RequestConfig)
    assert (ticket.confirm, ticket.timeout, ticket.request.method) == (True, 3.0, "POST")
    assert actions.get("order_status").timeout == 10.0
    assert not actions.get("order_status").confirm
    with pytest.raises(AttributeError):
        ticket.confirm = False
    # the secret is read when a request is sent, never kept in the config
    assert SECRET not in repr(config) and SECRET not in repr(actions.get("order_status"))


def test_the_example_in_config_yaml_is_valid(tmp_path):
    shipped = (ROOT / "config.yaml").read_text(encoding="utf-8").splitlines()
    start = shipped.index("# actions:")
    end = shipped.index("actions: []")
    example = "\n".join(line[2:] for line in shipped[start:end])
    config = write(tmp_path, yaml.safe_load(example))
    actions = load_actions(config)
    assert actions.names == ["order_status", "open_ticket", "handoff", "search_knowledge"]
    assert actions.get("open_ticket").confirm and not actions.get("order_status").confirm
    # the shipped config itself has none, and needs no environment variable
    assert load_actions(load_config(ROOT / "config.yaml")).names == ["handoff",
                                                                     "search_knowledge"]


# -- what the model will be given --

def test_describe_gives_openai_tools_in_the_language_with_the_built_ins(tmp_path):
    actions = load_actions(write(tmp_path, {"actions": [order_status(), open_ticket()]}))
    tools = actions.describe("es")
    assert [t["function"]["name"] for t in tools] == ["order_status", "open_ticket", "handoff",
                                                      "search_knowledge"]
    assert all(t["type"] == "function" and set(t["function"]) == {
        "name", "description", "parameters"} for t in tools)
    assert tools[0]["function"]["description"] == "Consulta un pedido por su número."
    assert tools[1]["function"]["description"] == "Open a ticket about an order."
    assert actions.describe("fr")[0]["function"]["description"] == \
        "Look up an order by its number."
    assert actions.describe()[0]["function"]["description"] == "Look up an order by its number."
    assert tools[0]["function"]["parameters"] == order_status()["parameters"]
    assert tools[2]["function"]["parameters"] == {
        "type": "object", "properties": {"reason": {"type": "string", "description": (
            "Why the customer needs a person, in one sentence.")}}, "required": ["reason"]}
    assert tools[3]["function"]["parameters"]["required"] == ["query"]
    assert tools[3]["function"]["parameters"]["properties"]["query"]["type"] == "string"
    json.dumps(tools)  # what an OpenAI-compatible server is sent
    tools[0]["function"]["parameters"]["required"].clear()  # a copy: the action keeps its own
    assert actions.describe("es")[0]["function"]["parameters"]["required"] == ["order_id"]


# -- no made-up arguments --

@pytest.mark.parametrize("action, arguments, conversation, problem", [
    ("order_status", {"order_id": "48213"}, "Where is my order 48213?", None),
    ("order_status", {"order_id": "48213"}, "¿Dónde está mi pedido 48 213?", None),
    ("order_status", {"order_id": "48213"}, "order no. 48-213 please", None),
    ("order_status", {"order_id": "48 213"}, "mein Auftrag 48213", None),
    ("order_status", {"order_id": "48213"}, "注文番号は４８２１３です", None),
    ("order_status", {"order_id": "KB-48213"}, "it's kb 48213", None),
    ("order_status", {"order_id": "48213"}, "Where is my order?",
     "The customer did not give order_id '48213': ask them for it instead of guessing."),
    ("order_status", {"order_id": "4821"}, "my order 48213", "did not give order_id '4821'"),
    ("order_status", {"order_id": "48213"}, "my order 9482130", "did not give order_id"),
    ("order_status", {"order_id": "8213"}, "my order 48213", "did not give order_id '8213'"),
    ("order_status", {"order_id": "48213"}, "I ordered 48 kettles and 213 cups",
     "did not give order_id"),
    ("order_status", {"order_id": ""}, "my order", "order_id is empty"),
    ("order_status", {"order_id": "ana@example.com"}, "my order", None),  # from the platform
    ("order_status", {"order_id": 48213}, "my order 48213", "order_id: 48213 is not of type "
                                                            "'string'."),
    ("order_status", {}, "my order 48213", "'order_id' is a required property."),
    ("order_status", {"order_id": "48213", "email": "x@y.z"}, "48213",
     "order_status has no parameter 'email'."),
    ("order_status", ["48213"], "48213", "must be a JSON object"),
    ("cancel_order", {"order_id": "48213"}, "48213", "There is no action named 'cancel_order'."),
    # the summary is the model's own words (free_text); the priority is chosen from an enum
    ("open_ticket", {"order_id": 48213, "summary": "Kettle arrived broken", "priority": "high"},
     "Order 48 213: my kettle came in pieces!", None),
    ("open_ticket", {"order_id": 48214, "summary": "Kettle arrived broken", "priority": "high"},
     "Order 48 213: my kettle came in pieces!", "did not give order_id '48214'"),
    ("open_ticket", {"order_id": 48213.0, "summary": "broken", "priority": "urgent"},
     "Order 48213", "priority: 'urgent' is not one of ['low', 'high']."),
    ("handoff", {"reason": "The customer is upset about a late delivery."}, "where is it!!",
     None),
    ("search_knowledge", {"query": 5}, "refunds?", "query: 5 is not of type 'string'."),
    ("order_by_ref", {"order_id": "48213"}, "order 48213", None),
    ("order_by_ref", {"order_id": "A1"}, "order A1", "does not match"),
])
def test_check_arguments(tmp_path, action, arguments, conversation, problem):
    by_ref = {**order_status(), "name": "order_by_ref", "parameters": {
        "type": "object", "properties": {"order_id": {"$ref": "#/$defs/order"}},
        "required": ["order_id"], "$defs": {"order": {"type": "string", "pattern": "^[0-9]+$"}}}}
    actions = load_actions(write(tmp_path, {"actions": [order_status(), open_ticket(), by_ref]}))
    found = actions.check_arguments(action, arguments, conversation,
                                    {"user_id": "U42", "email": "Ana@Example.com"})
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found, found


# -- requests --

async def test_an_order_is_looked_up_and_only_its_response_fields_are_kept(tmp_path, service,
                                                                         caplog):
    caplog.set_level(logging.DEBUG)
    actions = actions_for(tmp_path, service, *served(service))
    result = await actions.call("order_status", {"order_id": "48213"})
    assert result.status == "ok" and result.ok and result.error == ""
    assert result.data == {"status": "shipped", "delivery_date": "2025-03-14",
                           "items.0.name": "Kettlebird Classic"}
    assert "sk-internal" not in json.dumps(result.data) and "margin" not in repr(result)
    assert 0 < result.seconds < 10
    (request,) = service.requests
    assert request["raw_path"] == "/orders/48213"
    # the secret from the environment reaches the service in its header, and no log record
    assert request["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert any("order_status: ok" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert SECRET not in record.getMessage() and SECRET not in repr(record.args)
        assert "Bearer" not in record.getMessage()
    assert SECRET not in caplog.text

    missing = await actions.call("order_status", {"order_id": "99999"})
    assert (missing.status, missing.error, missing.data) == (
        "failed", "the service answered 404", {})


async def test_a_ticket_is_opened_only_once_confirmed_with_typed_json(tmp_path, service):
    actions = actions_for(tmp_path, service, *served(service))
    arguments = {"order_id": 48213, "summary": "Kettle arrived broken", "priority": "high"}
    refused = await actions.call("open_ticket", arguments)
    assert refused.status == "refused" and "must confirm" in refused.error
    assert service.requests == []
    result = await actions.call("open_ticket", arguments, confirmed=True)
    assert result.status == "ok", result.error
    assert result.data["ticket.id"] == "T-1001"
    # "{order_id}" alone keeps the integer; in a longer string it is written into it
    assert result.data["ticket.received"] == {
        "order": 48213, "subject": "Order 48213: Kettle arrived broken", "priority": "high",
        "tags": ["babeldesk"]}
    (request,) = service.requests
    assert request["method"] == "POST" and request["raw_path"] == "/tickets"
    assert request["headers"]["Content-Type"].startswith("application/json")
    # an optional parameter not given is left out of the body
    actions = actions_for(tmp_path, service, open_ticket(
        f"{service.base}/tickets", confirm=False, parameters={
            "type": "object", "properties": {"order_id": {"type": "integer"},
                                             "summary": {"type": "string"},
                                             "priority": {"type": "string"}},
            "required": ["order_id", "summary"]}))
    result = await actions.call("open_ticket", {"order_id": 7, "summary": "hi"})
    assert result.data["ticket.received"] == {"order": 7, "subject": "Order 7: hi",
                                              "tags": ["babeldesk"]}


@pytest.mark.parametrize("path, timeout, error", [
    ("/slow", 0.5, "no answer within 0.5 s"),
    ("/big", 10, "response too large"),
    ("/big-chunked", 5, "response too large"),
    ("/broken", 10, "the service answered 500"),
    ("/html", 10, "the service answered text/html, not JSON"),
    ("/moved", 10, "the service redirected (302); redirects are not followed"),
])
async def test_a_failing_service_gives_a_failed_result(tmp_path, service, path, timeout, error):
    actions = actions_for(tmp_path, service, {
        "name": "probe", "description": "d", "request": {"url": service.base + path},
        "response_fields": ["status"], "timeout": timeout})
    result = await actions.call("probe", {})
    assert (result.status, result.error, result.data) == ("failed", error, {})
    assert result.seconds < timeout + 2
    assert [r["raw_path"] for r in service.requests] == [path]  # and nothing followed


async def test_a_response_just_under_the_cap_is_read(tmp_path, service):
    actions = actions_for(tmp_path, service, {
        "name": "probe", "description": "d", "request": {"url": service.base + "/fits"},
        "response_fields": ["status"]})
    result = await actions.call("probe", {})
    assert result.status == "ok", result.error
    assert len(result.data["status"]) == FITS


async def test_an_unreachable_service_fails_without_raising(tmp_path, service):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    actions = actions_for(tmp_path, service, order_status(
        f"http://127.0.0.1:{port}/orders/{{order_id}}"))
    result = await actions.call("order_status", {"order_id": "48213"})
    assert result.status == "failed" and result.error.startswith("could not reach the service")


@pytest.mark.parametrize("value, raw_path", [
    ("1@evil.example/", "/orders/1%40evil.example%2F"),
    ("../admin", "/orders/..%2Fadmin"),
    ("48213?admin=1#x", "/orders/48213%3Fadmin%3D1%23x"),
    ("48213/../../admin", "/orders/48213%2F..%2F..%2Fadmin"),
    ("@evil.example:80", "/orders/%40evil.example%3A80"),
    ("ключ 1", "/orders/%D0%BA%D0%BB%D1%8E%D1%87%201"),
])
async def test_a_value_stays_inside_its_path_segment(tmp_path, service, value, raw_path):
    actions = actions_for(tmp_path, service, *served(service))
    result = await actions.call("order_status", {"order_id": value})
    assert result.status == "failed" and result.error == "the service answered 404"
    (request,) = service.requests
    assert request["raw_path"] == raw_path
    assert request["host"] == f"127.0.0.1:{service.port}"


@pytest.mark.parametrize("value", ["..", ".", ""])
async def test_a_value_that_would_move_up_the_path_is_refused(tmp_path, service, value):
    actions = actions_for(tmp_path, service, *served(service))
    result = await actions.call("order_status", {"order_id": value})
    assert result.status == "refused" and "cannot be part of the URL's path" in result.error
    assert service.requests == []


async def test_a_query_value_is_encoded_too(tmp_path, service):
    actions = actions_for(tmp_path, service, order_status(
        f"{service.base}/orders/48213?q={{order_id}}&lang=en"))
    result = await actions.call("order_status", {"order_id": "x&lang=de"})
    assert result.status == "ok"
    assert service.requests[0]["raw_path"] == "/orders/48213?q=x%26lang%3Dde&lang=en"


async def test_the_host_rule_is_applied_again_when_calling(service):
    # Built without the config's checks: plain http to a host that action_hosts lacks.
    action = ActionConfig(name="order_status", description="d", parameters=parameters(**ID),
                          request=RequestConfig(url=f"{service.base}/orders/{{order_id}}"))
    result = await Actions([action], hosts=[]).call("order_status", {"order_id": "48213"})
    assert result.status == "refused" and "would leave 127.0.0.1" in result.error
    assert service.requests == []
    result = await Actions([action], hosts=["127.0.0.1"]).call("order_status",
                                                               {"order_id": "48213"})
    assert result.status == "ok"


async def test_bad_arguments_and_built_ins_are_refused_before_any_request(tmp_path, service):
    actions = actions_for(tmp_path, service, *served(service))
    for name, arguments, words in [
            ("order_status", {"order_id": 48213}, "is not of type 'string'"),
            ("order_status", {}, "'order_id' is a required property"),
            ("order_status", {"order_id": "1", "admin": True}, "no parameter 'admin'"),
            ("cancel_order", {"order_id": "1"}, "no action named 'cancel_order'"),
            ("handoff", {"reason": "upset"}, "carried out by babeldesk itself")]:
        result = await actions.call(name, arguments)
        assert result.status == "refused" and words in result.error, (name, result)
    assert service.requests == []


async def test_a_secret_unset_after_start_fails_the_call_naming_the_variable(
        tmp_path, service, monkeypatch, caplog):
    actions = actions_for(tmp_path, service, *served(service))
    monkeypatch.delenv("ORDERS_TOKEN")
    result = await actions.call("order_status", {"order_id": "48213"})
    assert result.status == "failed"
    assert result.error == ("the environment variable ORDERS_TOKEN "
                            "(request.headers.Authorization) is not set")
    assert service.requests == []


async def test_each_call_is_recorded_in_the_history(tmp_path, service):
    actions = actions_for(tmp_path, service, *served(service))
    history = History(tmp_path / "data" / "history.db")
    key = ConversationKey("slack", "T1", "C1", "1700000000.000100")
    calls = [("order_status", {"order_id": "48213"}, False),
             ("order_status", {"order_id": "99999"}, False),
             ("open_ticket", {"order_id": 48213, "summary": "broken", "priority": "low"}, False)]
    for name, arguments, confirmed in calls:
        result = await actions.call(name, arguments, confirmed=confirmed)
        history.record_action(key, name, arguments, result, author="U42")
    history.close()
    history = History(tmp_path / "data" / "history.db")
    try:
        recorded = history.action_calls(key)
        assert [(c.action, c.arguments, c.status, c.author) for c in recorded] == [
            ("order_status", {"order_id": "48213"}, "ok", "U42"),
            ("order_status", {"order_id": "99999"}, "failed", "U42"),
            ("open_ticket", {"order_id": 48213, "summary": "broken", "priority": "low"},
             "refused", "U42")]
        assert recorded[1].error == "the service answered 404"
        assert "confirm" in recorded[2].error
        assert recorded[0].seconds > 0 and recorded[0].created > 0
        assert history.action_calls(ConversationKey("slack", "T1", "C1", "")) == []
    finally:
        history.close()
