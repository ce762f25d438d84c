"""Actions: HTTP requests babeldesk may make for a customer (look up an order, open a ticket),
declared under `actions:` in the config, checked once at start and called safely.

What the action step (bot/acting.py) uses:
- `Actions.describe(language)`: every action, the built-ins `handoff` and `search_knowledge`
  included, in the OpenAI `tools` format;
- `Actions.check_arguments(...)`, `missing(...)`, `supported(...)`: the schema, then the rule
  that a value the customer did not give (an order number the model made up) is never sent;
- `await Actions.call(...)`: the request, which never raises: an `ActionResult`.

Safety that needs no model lives here: only https, or plain http to a host in `action_hosts`,
checked again on the URL actually requested; customers' values are URL-encoded into their own
path segment or query value and never reach a header; secrets come only from environment
variables named in `request.headers` and are read when a request is sent; redirects are not
followed; responses are JSON of at most 64 kB, of which only `response_fields` are kept.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import json
import logging
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping
from urllib.parse import quote, urlsplit

import jsonschema
import jsonschema.exceptions
import jsonschema.validators

from .config import Config, build_section, check, read_secret
from .errors import ConfigError

log = logging.getLogger(__name__)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: the most of a response that is read; a longer one fails as "response too large"
MAX_RESPONSE_BYTES = 64 * 1024
#: the longest `timeout` an action may set, in seconds: a customer is waiting
MAX_TIMEOUT = 120.0

#: `{order_id}`: a parameter's value; `{env:ORDERS_TOKEN}`: an environment variable's
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: OpenAI's rule for function names
ACTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True)
class RequestConfig:
    #: GET, POST, PUT, PATCH or DELETE
    method: str = "GET"
    #: https://orders.example.com/v1/orders/{order_id}: `{param}` is a parameter's value,
    #: URL-encoded; the scheme and host are written out
    url: str = ""
    #: header → value; `{env:NAME}` is the environment variable NAME (secrets come only from
    #: there); customers' values never go in headers
    headers: dict[str, str] = field(default_factory=dict)
    #: a JSON object sent as the body; a string that is exactly "{param}" becomes the value
    #: with its JSON type, a longer string gets the value written into it
    body: dict | None = None


@dataclass(frozen=True)
class ActionConfig:
    #: what the model calls it: letters, digits, _ and -
    name: str = ""
    #: what it does and when to use it, in English, for the model
    description: str = ""
    #: the description in other languages, by language code
    descriptions: dict[str, str] = field(default_factory=dict)
    #: a JSON Schema of type object: the arguments
    parameters: dict = field(default_factory=lambda: {"type": "object", "properties": {}})
    request: RequestConfig = field(default_factory=RequestConfig)
    #: dotted paths into the JSON response (status, items.0.name): all the model sees of it
    response_fields: list[str] = field(default_factory=list)
    #: required parameters that the model may write in its own words (a ticket's summary);
    #: every other required value must appear in the conversation or come from the platform
    free_text: list[str] = field(default_factory=list)
    #: seconds to wait for the whole response
    timeout: float = 10.0
    #: it changes something (opens a ticket, cancels an order): the customer confirms first
    confirm: bool = False
    #: what it does in a few words, by language, for the customer who confirms it ("open a
    #: support ticket"); the English one, else the name, where the language has none
    titles: dict[str, str] = field(default_factory=dict)
    #: requests a customer would write for it, in any language: they help tell it from a
    #: question the articles answer
    examples: list[str] = field(default_factory=list)
    #: handoff and search_knowledge: carried out by babeldesk itself, not over HTTP
    built_in: bool = field(default=False, metadata={"internal": True})


def _built_in(name: str, description: str, parameter: str, meaning: str,
              examples: tuple[str, ...] = ()) -> ActionConfig:
    return ActionConfig(
        name=name, description=description, built_in=True, free_text=[parameter],
        examples=list(examples),
        parameters={"type": "object", "properties": {
            parameter: {"type": "string", "description": meaning}}, "required": [parameter]})


BUILT_INS: dict[str, ActionConfig] = {action.name: action for action in (
    _built_in("handoff", "Hand the conversation over to a person from the support team. Use it "
              "when the customer asks for a person, is upset, or needs something that neither "
              "the help-centre articles nor another action can do.",
              "reason", "Why the customer needs a person, in one sentence.",
              ("I want to talk to a person", "Can I speak to a human agent?",
               "This bot is useless, get me a real person")),
    _built_in("search_knowledge", "Search the help-centre articles again, with other words, "
              "when the passages given do not answer the question.",
              "query", "What to look for, in a few words."),
)}


@dataclass(frozen=True)
class ActionResult:
    #: ok (the service answered), failed (it could not be reached or answered wrongly) or
    #: refused (babeldesk did not send the request: bad arguments, no confirmation, a URL
    #: that would leave the configured host)
    status: str
    #: the response's `response_fields`, by path; empty unless ok
    data: dict = field(default_factory=dict)
    #: what went wrong, in one sentence, for the log and the model; never a secret
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# -- the config --

def load_actions(config: Config) -> "Actions":
    """The config's actions, typed and checked; a ConfigError names the key. An environment
    variable that a header names must be set now: an action without its credentials would
    fail for every customer."""
    hosts = []
    for i, host in enumerate(config.action_hosts):
        hosts.append(_check_host(f"action_hosts[{i}]", host))
    actions: list[ActionConfig] = []
    first: dict[str, int] = {}
    for i, data in enumerate(config.actions):
        key = f"actions[{i}]"
        action = build_section(ActionConfig, data, key, config)
        _check_action(action, key, config, hosts)
        check(action.name not in first, f"{key}.name",
              f"{action.name!r} is also the name of actions[{first.get(action.name)}]")
        first[action.name] = i
        actions.append(action)
    return Actions(actions, hosts)


def _check_host(key: str, host: str) -> str:
    plain = host.strip().lower()
    try:
        return str(ipaddress.ip_address(plain.strip("[]")))
    except ValueError:
        pass
    check(bool(re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", plain)), key,
          f"must be a host name like orders.internal (no scheme, port or path), got {host!r}")
    return plain


def _check_action(action: ActionConfig, key: str, config: Config, hosts: list[str]) -> None:
    check(bool(action.name), f"{key}.name", "is required")
    check(bool(ACTION_NAME.match(action.name)), f"{key}.name",
          f"must be letters, digits, _ and - (at most 64, not starting with a digit or -), "
          f"got {action.name!r}")
    check(action.name not in BUILT_INS, f"{key}.name",
          f"{action.name!r} is built in; give this action another name")
    check(bool(action.description.strip()), f"{key}.description",
          "is required: the model chooses actions by what it says")
    for section in ("descriptions", "titles"):
        for lang, text in getattr(action, section).items():
            check(lang in config.languages, f"{key}.{section}.{lang}",
                  "is not one of the configured languages")
            check(bool(text.strip()), f"{key}.{section}.{lang}", "must not be empty")
    for j, example in enumerate(action.examples):
        check(bool(example.strip()), f"{key}.examples[{j}]", "must not be empty")
    properties, required = _check_parameters(action.parameters, f"{key}.parameters")
    _check_request(action.request, f"{key}.request", properties, required, hosts)
    for j, path in enumerate(action.response_fields):
        check(bool(path) and all(path.split(".")), f"{key}.response_fields[{j}]",
              f"must be a dotted path like status or items.0.name, got {path!r}")
    for j, name in enumerate(action.free_text):
        check(name in required, f"{key}.free_text[{j}]",
              f"{name!r} is not a required parameter")
    check(0 < action.timeout <= MAX_TIMEOUT, f"{key}.timeout",
          f"must be more than 0 and at most {MAX_TIMEOUT:g} seconds, got {action.timeout}")


def _check_parameters(schema: dict, key: str) -> tuple[dict, list[str]]:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        raise ConfigError(key, f"not a JSON Schema: {where + ': ' if where else ''}"
                               f"{exc.message}") from None
    for ref in _refs(schema):
        check(ref.startswith("#"), key, f"$ref {ref!r} points outside the schema; only "
                                        "references inside it (#/$defs/…) are followed")
    check(schema.get("type") == "object", key,
          "must be a JSON Schema of type object (type: object, properties, required)")
    properties = schema.get("properties", {})
    for name in properties:
        check(bool(NAME.match(name)), f"{key}.properties.{name}",
              "must be a name of letters, digits and _, not starting with a digit")
    required = schema.get("required", [])
    for name in required:
        check(name in properties, f"{key}.required", f"{name!r} is not in properties")
    return properties, required


def _check_request(request: RequestConfig, key: str, properties: dict, required: list[str],
                   hosts: list[str]) -> None:
    check(request.method in METHODS, f"{key}.method",
          f"must be one of {', '.join(METHODS)}, got {request.method!r}")
    url = request.url.strip()
    check(bool(url), f"{key}.url", "is required")
    for inside in PLACEHOLDER.findall(url):
        check(not inside.startswith("env:"), f"{key}.url",
              f"{{{inside}}}: environment variables go in request.headers only, so that no "
              "secret is written in a URL")
        check(inside in properties, f"{key}.url", f"{{{inside}}} is not a parameter")
        check(inside in required, f"{key}.url",
              f"{{{inside}}} is not a required parameter: every part of a URL must be given")
    parts = urlsplit(url)
    check(parts.scheme in ("http", "https"), f"{key}.url",
          f"must be an https URL, got {request.url!r}")
    check("{" not in parts.netloc and "}" not in parts.netloc, f"{key}.url",
          "the host must be written out: no {parameter} in it")
    check("@" not in parts.netloc, f"{key}.url", "must not hold a user name or password: put "
          "credentials in request.headers, as {env:NAME}")
    check(bool(parts.hostname), f"{key}.url", f"has no host: {request.url!r}")
    try:
        parts.port
    except ValueError:
        raise ConfigError(f"{key}.url", f"has an invalid port: {request.url!r}") from None
    check(_allowed(parts.scheme, parts.hostname, hosts), f"{key}.url",
          "must be https, or its host listed in action_hosts")
    for name, value in request.headers.items():
        where = f"{key}.headers.{name}"
        check(bool(HEADER_NAME.match(name)), where, "is not a valid header name")
        check("\r" not in value and "\n" not in value, where, "must be one line")
        for inside in PLACEHOLDER.findall(value):
            check(inside.startswith("env:"), where,
                  f"{{{inside}}}: only {{env:NAME}} may be filled in here; customers' values "
                  "never go in headers")
            variable = inside[4:]
            check(bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable)), where,
                  f"{{{inside}}} does not name an environment variable (like ORDERS_TOKEN)")
            check(read_secret(variable) is not None, where,
                  f"{{env:{variable}}}: the environment variable {variable} is not set")
    if request.body is not None:
        check(request.method not in ("GET", "DELETE"), f"{key}.body",
              f"a {request.method} request has no body")
        for text in (v for v in _leaves(request.body) if isinstance(v, str)):
            for inside in PLACEHOLDER.findall(text):
                check(not inside.startswith("env:"), f"{key}.body",
                      f"{{{inside}}}: environment variables go in request.headers only")
                check(inside in properties, f"{key}.body", f"{{{inside}}} is not a parameter")


def _refs(schema: Any) -> Iterable[str]:
    if isinstance(schema, dict):
        for name, value in schema.items():
            if name == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)


def _allowed(scheme: str, host: str | None, hosts: list[str]) -> bool:
    return bool(host) and (scheme == "https" or (scheme == "http" and host.lower() in hosts))


# -- the registry --

class Actions:
    """The configured actions and the built-ins; build it with `load_actions(config)`."""

    def __init__(self, actions: Iterable[ActionConfig] = (), hosts: Iterable[str] = ()):
        self._actions = {action.name: action for action in actions}
        self.hosts = list(hosts)
        self._validators = {}
        for action in (*self._actions.values(), *BUILT_INS.values()):
            cls = jsonschema.validators.validator_for(action.parameters,
                                                      default=jsonschema.Draft202012Validator)
            self._validators[action.name] = cls(action.parameters,
                                                format_checker=cls.FORMAT_CHECKER)

    def __len__(self) -> int:
        """The configured actions, built-ins aside."""
        return len(self._actions)

    @property
    def names(self) -> list[str]:
        """Every action the model may call: the configured ones, then the built-ins."""
        return [*self._actions, *BUILT_INS]

    def get(self, name: str) -> ActionConfig | None:
        """A configured or built-in action by name (`.confirm`: ask the customer first)."""
        return self._actions.get(name) or BUILT_INS.get(name)

    def describe(self, language: str | None = None) -> list[dict]:
        """Every action as an OpenAI `tools` entry, its description in `language` when the
        config gives one; a copy the caller may change."""
        return [{"type": "function", "function": {
            "name": action.name,
            "description": action.descriptions.get(language or "", action.description),
            "parameters": copy.deepcopy(action.parameters)}}
            for action in (*self._actions.values(), *BUILT_INS.values())]

    def check_arguments(self, action: str, arguments: Any, conversation_text: str,
                        platform_values: Mapping[str, Any] | None = None) -> str | None:
        """The problem with the arguments, in one sentence, or None when they may be used.

        They must fit the action's schema, and every required value must appear in the
        conversation (case-insensitive; in a value with digits, spaces and dashes do not
        count, so "48 213" gives 48213) or be one of `platform_values` (the user's id, their
        e-mail when the platform tells it). Exempt: `free_text` parameters, true/false, and
        values chosen from an `enum` or `const`."""
        spec = self.get(action)
        if spec is None:
            return f"There is no action named {action!r}."
        problem = self._schema_problem(spec, arguments)
        if problem:
            return problem
        given = _given(platform_values)
        properties = spec.parameters.get("properties", {})
        for name in spec.parameters.get("required", []):
            schema = properties.get(name, {})
            if name in spec.free_text or "enum" in schema or "const" in schema:
                continue
            for value in _leaves(arguments[name]):
                if isinstance(value, bool) or value is None:
                    continue
                shown = _scalar(value)
                if not shown.strip():
                    return f"{name} is empty: ask the customer for it."
                if not _appears(shown, conversation_text, given):
                    return (f"The customer did not give {name} {shown!r}: ask them for it "
                            "instead of guessing.")
        return None

    def missing(self, action: str, arguments: dict, conversation_text: str,
                platform_values: Mapping[str, Any] | None = None) -> list[str]:
        """The required parameters whose value the customer has not given: absent, empty,
        or not in the conversation (see `check_arguments`)."""
        spec = self.get(action)
        if spec is None:
            return []
        given = _given(platform_values)
        properties = spec.parameters.get("properties", {})
        return [name for name in spec.parameters.get("required", [])
                if name not in arguments or not _supported(
                    name, arguments[name], spec, properties.get(name, {}), conversation_text,
                    given)]

    def supported(self, action: str, arguments: dict, conversation_text: str,
                  platform_values: Mapping[str, Any] | None = None) -> dict:
        """`arguments` without the optional values the customer did not give: a model that
        fills in an order number nobody mentioned must not send it."""
        spec = self.get(action)
        if spec is None or not isinstance(arguments, dict):
            return arguments
        given = _given(platform_values)
        required = spec.parameters.get("required", [])
        properties = spec.parameters.get("properties", {})
        return {name: value for name, value in arguments.items()
                if name in required or _supported(name, value, spec, properties.get(name, {}),
                                                  conversation_text, given)}

    def title(self, action: str, language: str) -> str:
        """What the action does, for the customer, in `language` if the config says it."""
        spec = self.get(action)
        if spec is None:
            return action
        return spec.titles.get(language) or spec.titles.get("en") or spec.name

    def _schema_problem(self, spec: ActionConfig, arguments: Any) -> str | None:
        if not isinstance(arguments, dict):
            return f"The arguments of {spec.name} must be a JSON object."
        properties = spec.parameters.get("properties", {})
        for name in arguments:
            if name not in properties:
                return f"{spec.name} has no parameter {name!r}."
        try:
            error = jsonschema.exceptions.best_match(
                self._validators[spec.name].iter_errors(arguments))
        except Exception:  # a schema jsonschema cannot apply to these arguments
            log.exception("action %s: its parameters' schema could not be applied", spec.name)
            return f"The arguments of {spec.name} could not be checked."
        if error is None:
            return None
        where = ".".join(str(p) for p in error.absolute_path)
        return f"{where + ': ' if where else ''}{error.message}."

    async def call(self, action: str, arguments: dict, confirmed: bool = False) -> ActionResult:
        """Send the action's request with these arguments; never raises (cancelling the task
        that awaits it still cancels the request). Refused without
        sending anything: an unknown or built-in action, arguments that do not fit the schema,
        an action with `confirm: true` that the customer has not `confirmed`, a URL that would
        leave the configured host."""
        start = time.monotonic()
        try:
            result = await self._call(action, arguments, confirmed)
        except Exception:  # a bug here must not stop the bot: the customer gets the apology
            log.exception("action %s: unexpected error", action)
            result = ActionResult("failed", error="unexpected error in babeldesk")
        seconds = time.monotonic() - start
        result = ActionResult(result.status, result.data, result.error, seconds)
        # The action's name, outcome, time and error: never a header, so never a secret.
        log.info("action %s: %s in %.2f s%s", action, result.status, seconds,
                 f" ({result.error})" if result.error else "")
        return result

    async def _call(self, name: str, arguments: dict, confirmed: bool) -> ActionResult:
        spec = self.get(name)
        if spec is None:
            return ActionResult("refused", error=f"There is no action named {name!r}.")
        if spec.built_in:
            return ActionResult("refused", error=f"{name} is carried out by babeldesk itself, "
                                                 "not over HTTP.")
        problem = self._schema_problem(spec, arguments)
        if problem:
            return ActionResult("refused", error=problem)
        if spec.confirm and not confirmed:
            return ActionResult("refused", error=f"{name} changes something: the customer "
                                                 "must confirm it first.")
        url, problem = self._url(spec, arguments)
        if problem:
            return ActionResult("refused", error=problem)
        headers = {}
        for header, template in spec.request.headers.items():
            value, missing = _fill_env(template)
            if missing:
                return ActionResult("failed", error=f"the environment variable {missing} "
                                                    f"(request.headers.{header}) is not set")
            headers[header] = value
        body = None
        if spec.request.body is not None:
            body = _fill_body(spec.request.body, arguments)
        return await _send(spec, url, headers, body)

    def _url(self, spec: ActionConfig, arguments: dict) -> tuple[str, str | None]:
        """The URL with the arguments URL-encoded into it, or the reason it must not be
        requested."""
        template = spec.request.url.strip()
        query_at = template.find("?")
        pieces, last = [], 0
        for match in PLACEHOLDER.finditer(template):
            value = arguments[match.group(1)]
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            encoded = quote(text, safe="")
            in_path = query_at < 0 or match.start() < query_at
            if in_path and encoded in ("", ".", ".."):
                return "", (f"{match.group(1)} {text!r} cannot be part of the URL's path.")
            pieces += [template[last:match.start()], encoded]
            last = match.end()
        url = "".join(pieces) + template[last:]
        # Again on the URL that is sent: its scheme, host and port are the template's.
        want, got = urlsplit(template), urlsplit(url)
        try:
            same = (got.scheme, got.hostname, got.port) == (want.scheme, want.hostname,
                                                            want.port)
        except ValueError:
            same = False
        if not same or "@" in got.netloc or not _allowed(got.scheme, got.hostname, self.hosts):
            return "", f"the request would leave {want.hostname}; not sent"
        return url, None


def _fill_env(template: str) -> tuple[str, str | None]:
    """The header value with its environment variables, or the name of one that is unset."""
    missing = None

    def value(match: re.Match) -> str:
        nonlocal missing
        secret = read_secret(match.group(1)[4:])
        if secret is None:
            missing = match.group(1)[4:]
            return ""
        return secret

    filled = PLACEHOLDER.sub(value, template)
    return filled, missing


_ABSENT = object()


def _fill_body(template: Any, arguments: dict) -> Any:
    if isinstance(template, dict):
        filled = {k: _fill_body(v, arguments) for k, v in template.items()}
        return {k: v for k, v in filled.items() if v is not _ABSENT}
    if isinstance(template, list):
        return [v for v in (_fill_body(item, arguments) for item in template) if v is not _ABSENT]
    if not isinstance(template, str):
        return template
    whole = PLACEHOLDER.fullmatch(template)
    if whole:  # the value itself, with its JSON type; left out when not given
        return arguments.get(whole.group(1), _ABSENT)

    def text(match: re.Match) -> str:
        value = arguments.get(match.group(1), "")
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    return PLACEHOLDER.sub(text, template)


async def _send(spec: ActionConfig, url: str, headers: dict, body: Any) -> ActionResult:
    import aiohttp

    try:
        # the whole exchange, a service that trickles its answer included
        return await asyncio.wait_for(_exchange(spec, url, headers, body), spec.timeout)
    except (asyncio.TimeoutError, TimeoutError):
        return ActionResult("failed", error=f"no answer within {spec.timeout:g} s")
    except aiohttp.ClientError as exc:
        return ActionResult("failed", error=f"could not reach the service "
                                            f"({type(exc).__name__})")


async def _exchange(spec: ActionConfig, url: str, headers: dict, body: Any) -> ActionResult:
    import aiohttp
    import yarl

    async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=spec.timeout)) as session:
        # encoded=True: sent as built, without decoding the customers' values or resolving
        # dot segments again
        async with session.request(spec.request.method, yarl.URL(url, encoded=True),
                                   headers=headers, json=body,
                                   allow_redirects=False) as response:
            if 300 <= response.status < 400:
                return ActionResult("failed", error=f"the service redirected "
                                                    f"({response.status}); redirects are not "
                                                    "followed")
            if not 200 <= response.status < 300:
                return ActionResult("failed", error=f"the service answered {response.status}")
            if (response.content_length or 0) > MAX_RESPONSE_BYTES:
                return ActionResult("failed", error="response too large")
            raw = bytearray()
            while len(raw) <= MAX_RESPONSE_BYTES:
                chunk = await response.content.read(MAX_RESPONSE_BYTES + 1 - len(raw))
                if not chunk:
                    break
                raw += chunk
            if len(raw) > MAX_RESPONSE_BYTES:
                return ActionResult("failed", error="response too large")
            content_type = response.content_type
    if not raw.strip():
        return ActionResult("ok")
    if not (content_type == "application/json" or content_type.endswith("+json")):
        return ActionResult("failed", error=f"the service answered {content_type}, not JSON")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ActionResult("failed", error="the service's answer is not valid JSON")
    return ActionResult("ok", data=pick_fields(data, spec.response_fields))


def pick_fields(data: Any, paths: Iterable[str]) -> dict:
    """The values at these dotted paths (`items.0.name`: a list's first item's name), by
    path; a path the data lacks is left out."""
    picked = {}
    for path in paths:
        node = data
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = _ABSENT
                break
        if node is not _ABSENT:
            picked[path] = node
    return picked


# -- "no made-up order number" --

_GAPS = re.compile(r"[\s\-‐‑‒–—―]+")


def _scalar(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, str) else str(value)


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _given(platform_values: Mapping[str, Any] | None) -> list[str]:
    return [_scalar(v) for v in (platform_values or {}).values() if v is not None and _scalar(v)]


def _supported(name: str, value: Any, spec: ActionConfig, schema: dict, text: str,
               given: list[str]) -> bool:
    """Whether the customer gave this value (free text, true/false and choices from an enum
    always count as given)."""
    if name in spec.free_text:
        return bool(_scalar(value).strip()) if not isinstance(value, (dict, list)) else True
    if "enum" in schema or "const" in schema:
        return True
    for leaf in _leaves(value):
        if isinstance(leaf, bool) or leaf is None:
            continue
        shown = _scalar(leaf)
        if not shown.strip() or not _appears(shown, text, given):
            return False
    return True


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _appears(value: str, text: str, platform_values: list[str]) -> bool:
    """Whether the customer gave `value`: in the conversation, or from the platform."""
    wanted = _normal(value).strip()
    if any(_normal(given).strip() == wanted for given in platform_values):
        return True
    if any(c.isdigit() for c in wanted):
        # 48213 is "48 213" or "48-213", and not part of 9482130
        wanted, text = _GAPS.sub("", wanted), _GAPS.sub("", _normal(text))
        before = r"(?<!\d)" if wanted[0].isdigit() else ""
        after = r"(?!\d)" if wanted[-1].isdigit() else ""
        return re.search(before + re.escape(wanted) + after, text) is not None
    return " ".join(wanted.split()) in " ".join(_normal(text).split())
