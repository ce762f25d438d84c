"""Actions (bot/actions.py): declared in the config and checked at start, described to the
model, arguments checked (no made-up order number)."""

from __future__ import annotations

import json

import pytest
import yaml

from bot.actions import ActionConfig, RequestConfig, load_actions
from bot.config import Config, load_config
from bot.errors import ConfigError
from helpers import ROOT

SECRET = "s3cret-0rders-t0ken-9f2c"


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
])
def test_check_arguments(tmp_path, action, arguments, conversation, problem):
    actions = load_actions(write(tmp_path, {"actions": [order_status(), open_ticket()]}))
    found = actions.check_arguments(action, arguments, conversation,
                                    {"user_id": "U42", "email": "Ana@Example.com"})
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found, found
