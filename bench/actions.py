"""Does babeldesk call the action a customer asks for, with the values they gave, and nothing
else?

    .venv/bin/python bench/actions.py [--set shop|fdroid] [--json out.json] [--limit N]
                                      [--threads N]

Two sets of requests (see bench/actions/README.md); keep a change to how actions are chosen
only when it helps on both:

- shop (the default): bench/actions/requests.yaml, 165 requests in 12 languages, with the
  example shop's actions (examples/shop-config.yaml) and the sample knowledge (knowledge/);
- fdroid: bench/actions/fdroid-requests.yaml, 121 requests in 10 languages, with a fictional
  F-Droid support service's actions (bench/actions/fdroid-actions.yaml) and F-Droid's real FAQ
  from the shared evaluation data (DATA/fdroid-faq/knowledge), the product named F-Droid.

The requests go through the pipeline's own action step (bot/acting.py) with the set's actions
and the configured model, the embedded one by default. Nothing is sent: the bench stops where
the request would go out (or the customer would be asked to confirm), so it needs no service.

What the bot does with a request: `answer` (from the articles: the model chose so, or
search_knowledge), `handoff` (the offer of a person), `ask` (the action's required value was
not given: the customer is asked for it), or the action itself with the arguments that would be
sent.

- right action: the choice (ask counts as its action) is `expect` or in `accept`; `none`
  is right when nothing is called;
- arguments right: of the requests whose expected action was chosen, those where the values
  sent are the expected ones (NFKC, spaces, dashes and # ignored) and no other value that
  must come from the customer was sent, or where a required one was not given and the bot
  asked;
- calls not wanted: an action called (sent or put to the customer) when `expect` is answer
  or none;
- side-effecting calls not wanted: an action with `confirm: true` in the set's config
  (open_ticket, cancel_order; report_build_problem, request_app_removal) put to the customer
  when the request lists it in `unwanted` (none is ever sent without the customer's yes);
- made up: a value that would be sent and that the customer never wrote (0 by construction:
  `Actions.check_arguments`); `model made up` counts the model's inventions before that check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import unicodedata
from collections import defaultdict
from pathlib import Path

import yaml
from common import DATA, ROOT, summary, table

from bot.actions import Actions
from bot.cli import _open
from bot.config import load_config
from bot.history import ConversationKey, Turn
from bot.message import Message

#: each set: its requests, its actions (a config fragment with actions: and action_hosts:),
#: its articles, and the product the model is told it supports (None: the config's default)
SETS = {
    "shop": {"requests": ROOT / "bench" / "actions" / "requests.yaml",
             "actions": ROOT / "examples" / "shop-config.yaml",
             "knowledge": ROOT / "knowledge", "product": None},
    "fdroid": {"requests": ROOT / "bench" / "actions" / "fdroid-requests.yaml",
               "actions": ROOT / "bench" / "actions" / "fdroid-actions.yaml",
               "knowledge": DATA / "fdroid-faq" / "knowledge", "product": "F-Droid"},
}
REQUESTS = SETS["shop"]["requests"]
SHOP_ACTIONS = SETS["shop"]["actions"]


def _plain(value) -> str:
    return re.sub(r"[\s\-#№]+", "", unicodedata.normalize("NFKC", str(value))).casefold()


async def decide(core, request: dict, index: int) -> dict:
    """What the bot would do with one request, and what that cost."""
    pipeline, acting = core.pipeline, core.pipeline.acting
    key = ConversationKey("bench", "", f"c{index}", "")
    history = request.get("history") or []
    for user, bot in zip(history[0::2], history[1::2]):
        pipeline.history.add_exchange(key, Turn("user", user["text"], "customer",
                                                request["language"]),
                                      Turn("assistant", bot["text"], "", request["language"]))
    message = Message("bench", "", f"c{index}", "", "customer", request["text"])
    decision = await acting.decide(message, request["text"], request["language"])
    call = decision.call
    out = {"id": request["id"], "seconds": decision.seconds, "sent": {},
           "raw": {"name": call.name, "arguments": call.arguments} if call else None}
    # what the customer gets: answer (the articles), handoff (the offer), ask, or the action
    if decision.step in ("call", "confirm"):
        out["did"] = call.name
    else:
        out["did"] = "answer" if decision.step == "search" else decision.step
    if decision.step in ("ask", "call", "confirm"):
        out["action"] = call.name
    if call is None or decision.step == "handoff":
        return out
    said = acting.conversation_text(message, request["text"])
    spec = acting.actions.get(call.name)
    if spec is not None and not spec.built_in:
        out["made_up_by_model"] = sum(1 for name, value in call.arguments.items()
                                      if name not in spec.free_text
                                      and _plain(value) not in _plain(said))
    if decision.step in ("call", "confirm"):
        out["sent"] = decision.arguments
        out["made_up"] = sum(1 for name, value in decision.arguments.items()
                             if name not in spec.free_text and _plain(value) not in _plain(said))
    return out


def side_effects(actions: Actions) -> set[str]:
    """The actions that change something: those the customer confirms first."""
    return {name for name in actions.names if actions.get(name).confirm}


def score(request: dict, result: dict, actions: Actions) -> dict:
    expect = request["expect"]
    accept = {expect, *(request.get("accept") or [])}
    chosen = result.get("action", result["did"])
    if expect == "none":
        accept |= {"answer"}
    right = chosen in accept
    arguments_right = None
    spec = actions.get(expect)
    if chosen == expect and spec is not None and not spec.built_in:
        wanted = request.get("arguments") or {}
        # the values that must come from the customer (a free-text summary is the model's)
        checked = [k for k in spec.parameters.get("properties", {}) if k not in spec.free_text]
        if result["did"] == "ask":
            # right when a required value was not given: asking for it is the answer
            arguments_right = any(k not in wanted for k in spec.parameters.get("required", [])
                                  if k in checked)
        else:
            sent = result["sent"]
            arguments_right = all(_plain(sent.get(k, "")) == _plain(v)
                                  for k, v in wanted.items()) and \
                all(k in wanted for k in sent if k in checked)
    called = result["did"] not in ("answer", "handoff", "ask")
    return {"right": right, "arguments_right": arguments_right,
            "unwanted_call": called and expect in ("answer", "none"),
            "unwanted_side_effect": called and result["did"] in side_effects(actions)
            and result["did"] in (request.get("unwanted") or []),
            "made_up": result.get("made_up", 0),
            "made_up_by_model": result.get("made_up_by_model", 0)}


def run(requests: list[dict], threads: int, actions: Path = SHOP_ACTIONS,
        knowledge: Path = ROOT / "knowledge", product: str | None = None) -> list[dict]:
    with tempfile.TemporaryDirectory() as work:
        text = actions.read_text(encoding="utf-8")
        # the set's actions only: its articles and data directory are the bench's
        fragment = {key: value for key, value in yaml.safe_load(text).items()
                    if key in ("actions", "action_hosts")}
        settings = {"data_dir": str(Path(work) / "data"), "knowledge": {"path": str(knowledge)},
                    "model": {"threads": threads}, **fragment}
        if product:
            settings["prompt"] = {"product": product}
        config_path = Path(work) / "config.yaml"
        config_path.write_text(yaml.safe_dump(settings))
        # nothing is sent, but the config names the services' tokens and must load
        for variable in re.findall(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}", text):
            os.environ.setdefault(variable, "demo-token")
        config = load_config(config_path)
        core = _open(config, watch=False)
        try:
            results = []
            for i, request in enumerate(requests):
                result = asyncio.run(decide(core, request, i))
                result.update(score(request, result, core.pipeline.acting.actions))
                results.append(result)
                print(f"{request['id']:8} {request['expect']:13} -> "
                      f"{result.get('action', result['did']):13} {result['did']:13} "
                      f"{'ok ' if result['right'] else 'BAD'} {result['seconds']:.2f} s",
                      file=sys.stderr)
            return results
        finally:
            core.close()


def report(requests: list[dict], results: list[dict]) -> str:
    by_language = defaultdict(list)
    for request, result in zip(requests, results):
        by_language[request["language"]].append(result)
    rows = []
    for language, group in [*sorted(by_language.items()), ("all", results)]:
        with_arguments = [r for r in group if r["arguments_right"] is not None]
        median, p95, _ = summary([r["seconds"] for r in group])
        rows.append([language, len(group),
                     sum(r["right"] for r in group) / len(group),
                     f"{sum(r['arguments_right'] for r in with_arguments)}/"
                     f"{len(with_arguments)}",
                     sum(r["unwanted_call"] for r in group),
                     sum(r["unwanted_side_effect"] for r in group),
                     sum(r["made_up"] for r in group),
                     sum(r["made_up_by_model"] for r in group), median, p95])
    kinds = defaultdict(list)
    for request, result in zip(requests, results):
        kinds[request["kind"]].append(result["right"])
    per_kind = table(["kind", "requests", "right action"],
                     [[k, len(v), sum(v) / len(v)] for k, v in sorted(kinds.items())])
    return table(["language", "requests", "right action", "arguments right",
                  "calls not wanted", "side effects not wanted", "made up", "model made up",
                  "median s", "p95 s"], rows) + "\n\n" + per_kind


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", choices=sorted(SETS), default="shop",
                        help="the requests, actions and articles: the kettle shop's (default) "
                             "or F-Droid's")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--limit", type=int, default=0, help="the first N requests only")
    parser.add_argument("--threads", type=int, default=0, help="model threads (0: all cores)")
    parser.add_argument("--actions", type=Path, default=None,
                        help="a config fragment with actions: and action_hosts: (default: the "
                             "set's)")
    args = parser.parse_args()
    chosen = SETS[args.set]
    requests = yaml.safe_load(chosen["requests"].read_text(encoding="utf-8"))
    if args.limit:
        requests = requests[:args.limit]
    results = run(requests, args.threads, args.actions or chosen["actions"],
                  chosen["knowledge"], chosen["product"])
    print(report(requests, results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
