"""Tool calls as each kind of model writes them, and the grammar that keeps a local model's
call valid JSON of the right shape.

A local model is asked for exactly one call, of one of the tools offered, one of which is
`answer` (answer from the help-centre articles): the choice and the arguments are decoded
under a grammar built from the tools' JSON Schemas, so even a 0.5B model cannot write a
function that does not exist, a missing bracket or an argument of the wrong type. What it
writes is still checked (bot/actions.py): a grammar keeps the form, not the facts.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

#: the choice that calls nothing: the question is answered from the articles
ANSWER = "answer"
ANSWER_DESCRIPTION = ("Answer from the help-centre articles: any question about the product, "
                      "how to use it, delivery times, payment, returns and accounts, and "
                      "anything that no other function does.")

#: the longest free-text argument a local model may write, in characters: a summary or a
#: reason, not an essay (and the grammar needs a bound to end)
MAX_TEXT_CHARS = 200


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict = field(default_factory=dict)

    @property
    def answers(self) -> bool:
        """The model chose to answer from the articles: nothing is called."""
        return self.name == ANSWER


def answer_tool() -> dict:
    return {"type": "function", "function": {
        "name": ANSWER, "description": ANSWER_DESCRIPTION,
        "parameters": {"type": "object", "properties": {}}}}


def call_schema(tools: list[dict], patterns: bool = True) -> dict:
    """The JSON Schema of one call of one of `tools` (OpenAI format): {"name": …,
    "arguments": {…}}, name first, for a grammar: free-text strings get a length bound, and
    patterns are written as llama.cpp's grammars read them (or left out, with `patterns`
    false or when they cannot be: the arguments are checked against the real schema
    afterwards anyway)."""
    choices = []
    for tool in tools:
        function = tool["function"]
        parameters = _bounded(copy.deepcopy(function.get("parameters") or
                                            {"type": "object", "properties": {}}), patterns)
        choices.append({
            "type": "object",
            "properties": {"name": {"const": function["name"]}, "arguments": parameters},
            "required": ["name", "arguments"]})
    return {"anyOf": choices} if len(choices) > 1 else choices[0]


def _bounded(schema: Any, patterns: bool = True) -> Any:
    if isinstance(schema, dict):
        if "pattern" in schema:
            pattern = grammar_pattern(schema["pattern"]) if patterns else None
            if pattern is None:
                del schema["pattern"]
            else:
                schema["pattern"] = pattern
        if schema.get("type") == "string" and not {"enum", "const", "pattern",
                                                   "format"} & set(schema):
            schema["maxLength"] = min(schema.get("maxLength", MAX_TEXT_CHARS), MAX_TEXT_CHARS)
        for key in ("properties", "$defs", "definitions"):
            for value in (schema.get(key) or {}).values():
                _bounded(value, patterns)
        for key in ("items", "anyOf", "oneOf", "allOf"):
            value = schema.get(key)
            if isinstance(value, list):
                for item in value:
                    _bounded(item, patterns)
            elif isinstance(value, dict):
                _bounded(value, patterns)
    return schema


#: escapes outside a character class, as classes llama.cpp's grammars read
_CLASS_ESCAPES = {"d": "[0-9]", "w": "[a-zA-Z0-9_]", "s": "[ ]"}


def grammar_pattern(pattern: Any) -> str | None:
    """`pattern` as llama-cpp-python's JSON-Schema converter can pass it to llama.cpp, or
    None. The converter copies an escape such as `\\.` into a grammar string, where
    llama.cpp's parser does not know it (and the process crashed): escaped punctuation
    becomes a one-character class (`[.]`), `\\d` `[0-9]`; an escape inside a class, or any
    other, leaves the pattern out."""
    if not isinstance(pattern, str):
        return None
    out, i, in_class = [], 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if in_class or i + 1 >= len(pattern):
                return None
            escaped = pattern[i + 1]
            if escaped in _CLASS_ESCAPES:
                out.append(_CLASS_ESCAPES[escaped])
            elif escaped in ".+*?()|{}$/#&~@%!,:;'\"<>=_ " or escaped == "-":
                out.append(f"[{escaped}]")
            else:  # \\], \\[, \\^, \\\\, \\b, \\p{…}: not worth the risk
                return None
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


#: how a chat template shows a call; what precedes the JSON and what follows it
CALL_FORMATS = {
    # Qwen 2.5, Hermes: <tool_call>\n{"name": …, "arguments": …}\n</tool_call>
    "hermes": ("<tool_call>\n", "\n</tool_call>"),
    # Mistral Small 3.1 (tokenizer v7): [TOOL_CALLS][{"name": …, "arguments": …}]
    "mistral": ("[TOOL_CALLS][", "]"),
    # a template without tools: the tools are described in the system prompt
    "plain": ("", ""),
}


def call_format(template: str | None) -> str:
    """Which of CALL_FORMATS a chat template uses."""
    template = template or ""
    if "tools" not in template:
        return "plain"
    if "<tool_call>" in template:
        return "hermes"
    if "[TOOL_CALLS]" in template or "[AVAILABLE_TOOLS]" in template:
        return "mistral"
    return "plain"


def plain_tools_prompt(tools: list[dict]) -> str:
    """The tools, for a model whose template cannot show them: appended to its system
    prompt."""
    lines = "\n".join(json.dumps(tool["function"], ensure_ascii=False) for tool in tools)
    return ("\n\nYou can call one of these functions:\n" + lines +
            '\n\nReply with one JSON object: {"name": <function name>, "arguments": {…}}.')


def parse_call(text: str, names: list[str]) -> ToolCall | None:
    """The first call of one of `names` in a model's text, in any of the formats above or
    OpenAI's, or None."""
    text = text.strip()
    for opening, _ in CALL_FORMATS.values():
        if opening and text.startswith(opening.strip()):
            text = text[len(opening.strip()):].strip()
    match = re.search(r"[\[{]", text)
    if not match:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[match.start():])
    except ValueError:
        return None
    if isinstance(value, list):
        value = value[0] if value else None
    return as_call(value, names)


def as_call(value: Any, names: list[str]) -> ToolCall | None:
    """{"name": …, "arguments": {…} or "{…}"} as a ToolCall of one of `names`, else None."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):  # OpenAI: {"type": "function", "function": …}
        value = value["function"]
    name, arguments = value.get("name"), value.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except ValueError:
            return None
    if name not in names or not isinstance(arguments, dict):
        return None
    return ToolCall(name, arguments)
