"""Tool calls: the formats models write them in, the grammar that keeps a local model's call
well-formed, and the choice through llama.cpp's own OpenAI-compatible server and a server that
answers in Mistral's format."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from bot.engine import OpenAIEngine
from helpers import serve
from bot.tools import (ANSWER, ToolCall, answer_tool, call_format, call_schema,
                       grammar_pattern, parse_call, plain_tools_prompt)

ORDER = {"type": "function", "function": {
    "name": "order_status", "description": "Look up an order by its number.",
    "parameters": {"type": "object", "properties": {
        "order_id": {"type": "string", "pattern": "^[0-9]{5,8}$"}}, "required": ["order_id"]}}}
TICKET = {"type": "function", "function": {
    "name": "open_ticket", "description": "Open a support ticket.",
    "parameters": {"type": "object", "properties": {
        "summary": {"type": "string"}, "priority": {"enum": ["low", "high"]}},
        "required": ["summary"]}}}
NAMES = ["answer", "order_status", "open_ticket"]


def test_each_template_family_is_recognised():
    assert call_format("{% if tools %}<tool_call>{% endif %}") == "hermes"
    assert call_format("{% if tools %}[AVAILABLE_TOOLS]{{ tools }}[TOOL_CALLS]{% endif %}") \
        == "mistral"
    assert call_format("{{ messages }}") == "plain"
    assert call_format(None) == "plain"


@pytest.mark.parametrize("text", [
    '<tool_call>\n{"name": "order_status", "arguments": {"order_id": "48213"}}\n</tool_call>',
    '[TOOL_CALLS][{"name": "order_status", "arguments": {"order_id": "48213"}}]',
    '{"name": "order_status", "arguments": "{\\"order_id\\": \\"48213\\"}"}',
    '{"type": "function", "function": {"name": "order_status", '
    '"arguments": {"order_id": "48213"}}}',
])
def test_a_call_is_read_in_every_format(text):
    assert parse_call(text, NAMES) == ToolCall("order_status", {"order_id": "48213"})


@pytest.mark.parametrize("text", [
    "I would look up your order.", '{"name": "delete_everything", "arguments": {}}',
    '{"name": "order_status", "arguments": "not json"}', '[TOOL_CALLS][]', "<tool_call>{",
    '{"name": "order_status", "arguments": [1]}'])
def test_anything_else_is_no_call(text):
    assert parse_call(text, NAMES) is None


def test_the_call_schema_offers_each_tool_with_its_arguments_and_bounds_free_text():
    schema = call_schema([answer_tool(), ORDER, TICKET])
    names = [choice["properties"]["name"]["const"] for choice in schema["anyOf"]]
    assert names == NAMES
    ticket = schema["anyOf"][2]["properties"]["arguments"]
    # A free-text value ends: the grammar bounds it; patterns and choices stay as declared.
    assert ticket["properties"]["summary"]["maxLength"] == 200
    assert "maxLength" not in ticket["properties"]["priority"]
    assert "maxLength" not in schema["anyOf"][1]["properties"]["arguments"]["properties"][
        "order_id"]
    # The tools given are not changed.
    assert "maxLength" not in TICKET["function"]["parameters"]["properties"]["summary"]


def test_a_template_without_tools_gets_them_in_the_system_prompt():
    text = plain_tools_prompt([answer_tool(), ORDER])
    assert '"name": "order_status"' in text and '"name": "answer"' in text


@pytest.mark.model
def test_the_embedded_model_calls_under_the_grammar(engine):
    system = {"role": "system", "content": "You are Kettlebird's support assistant. Call the "
                                           "one function the customer's message asks for."}
    call = engine.choose([system, {"role": "user", "content": "Where is my order 48213?"}],
                         [ORDER, TICKET], 160)
    assert call == ToolCall("order_status", {"order_id": "48213"})
    # Whatever it picks for a message that gives no number, the call fits the schemas: a
    # known name, and an order number of 5 to 8 digits if any.
    other = engine.choose([system, {"role": "user", "content": "Wo ist mein Paket?"}],
                          [ORDER, TICKET], 160)
    assert other.name in NAMES
    if other.name == "order_status":
        assert other.arguments["order_id"].isdigit() and 5 <= len(
            other.arguments["order_id"]) <= 8


class ToolServer:
    """An OpenAI-compatible endpoint that answers a tool choice as the server's model would:
    OpenAI's `tool_calls`, Mistral's [TOOL_CALLS] text (a server without a tool parser), or
    plain text. Records the requests."""

    def __init__(self, reply: dict):
        self.reply = reply
        self.requests: list[dict] = []

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.complete)
        self.runner, base = await serve(app)
        return f"{base}/v1"

    async def complete(self, request):
        body = await request.json()
        self.requests.append(body)
        return web.json_response({
            "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", **self.reply},
                         "finish_reason": "tool_calls"}]})


MISTRAL_ID = "D681PevKs"  # Mistral's calls carry nine-character ids


@pytest.mark.parametrize("reply, expected", [
    ({"content": None, "tool_calls": [{"id": MISTRAL_ID, "type": "function", "function": {
        "name": "order_status", "arguments": json.dumps({"order_id": "48213"})}}]},
     ToolCall("order_status", {"order_id": "48213"})),
    ({"content": '[TOOL_CALLS][{"name": "order_status", "arguments": {"order_id": "48213"}}]'},
     ToolCall("order_status", {"order_id": "48213"})),
    ({"content": '{"name": "order_status", "arguments": {"order_id": "48213"}}'},
     ToolCall("order_status", {"order_id": "48213"})),
    ({"content": "Your order is on its way."}, ToolCall(ANSWER)),
    ({"content": None, "tool_calls": [{"id": MISTRAL_ID, "type": "function", "function": {
        "name": "format_disk", "arguments": "{}"}}]}, ToolCall(ANSWER)),
])
async def test_an_openai_server_chooses_with_tools_and_tool_calls(reply, expected):
    server = ToolServer(reply)
    base_url = await server.start()
    try:
        engine = OpenAIEngine(base_url, "mistral-small-3.1", retries=0, timeout=10)
        call = await asyncio.to_thread(
            engine.choose, [{"role": "user", "content": "Where is my order 48213?"}],
            [ORDER, TICKET], 160)
        assert call == expected
        (request,) = server.requests
        # The standard fields: the tools as given, the model free to answer instead.
        assert [t["function"]["name"] for t in request["tools"]] == ["order_status",
                                                                     "open_ticket"]
        assert request["tool_choice"] == "auto" and request["temperature"] == 0
    finally:
        await server.runner.cleanup()


@pytest.mark.parametrize("pattern, written", [
    (r"^[0-9]{5,8}$", r"^[0-9]{5,8}$"),
    (r"^[a-z]+(\.[a-z]+)+$", r"^[a-z]+([.][a-z]+)+$"),
    (r"^\d{3}-\d{2}$", r"^[0-9]{3}-[0-9]{2}$"),
    (r"^[\.a-z]+$", None), (r"\bword", None), (r"^a\]$", None)])
def test_patterns_are_written_as_llama_cpp_grammars_read_them(pattern, written):
    assert grammar_pattern(pattern) == written


@pytest.mark.model
def test_a_pattern_with_escapes_never_crashes_the_model(engine):
    # llama-cpp-python copies "\." into a grammar string that llama.cpp cannot parse, and
    # sampling with it crashed the process.
    app = {"type": "function", "function": {
        "name": "app_status", "description": "Look up an Android app by its package name.",
        "parameters": {"type": "object", "properties": {
            "package": {"type": "string", "pattern": r"^[a-zA-Z]\w*(\.\w+)+$"},
            "tag": {"type": "string", "pattern": r"^[\.\]]+$"}},
            "required": ["package"]}}}
    call = engine.choose([{"role": "user", "content": "Is org.fdroid.fdroid up to date?"}],
                         [app], 160)
    assert call.name in ("answer", "app_status")
