"""The `babeldesk` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Callable

from . import __version__
from .config import Config, load_config
from .errors import BabeldeskError, ConfigError

log = logging.getLogger("babeldesk")

COMMANDS = {
    "run": "answer on every chat platform whose credentials are set (Slack, Discord, HTTP) "
           "until stopped, with /healthz and /metrics",
    "chat": "talk to babeldesk in this terminal (streams answers, shows language and sources)",
    "ask": "answer one question and exit; --json for scripts",
    "index": "index the knowledge folder and report every file",
    "model pull": "assemble the embedded model or download the configured one",
    "check": "check the config, the model and the knowledge; exit 0 when all is well",
    "history forget": "delete the stored history of a channel or of a user",
}


class ProgressBar:
    """A tqdm bar that appears only once there is something to show."""

    def __init__(self, desc: str, unit: str = "it", scale: bool = False):
        self.desc, self.unit, self.scale = desc, unit, scale
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit,
                            unit_scale=self.scale, unit_divisor=1024, file=sys.stderr,
                            disable=None, leave=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def _open(config: Config, **kwargs):
    from .core import open_core

    model_bar = ProgressBar("assembling model", "B", scale=True)
    index_bar = ProgressBar("indexing knowledge", "file")
    embed_bar = ProgressBar("embedding passages", "passage")
    try:
        return open_core(config, model_progress=model_bar, index_progress=index_bar,
                         embed_progress=embed_bar, **kwargs)
    finally:
        model_bar.close()
        index_bar.close()
        embed_bar.close()


def cmd_chat(config: Config, args: argparse.Namespace) -> int:
    from adapters.terminal import TerminalAdapter

    core = _open(config)
    try:
        adapter = TerminalAdapter(core.pipeline, conversation=args.conversation)
        asyncio.run(adapter.run())
    except KeyboardInterrupt:
        print(file=sys.stderr)
    finally:
        core.close()
    return 0


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    from adapters import serve

    return asyncio.run(serve(config, lambda: _open(config),
                             say=lambda line: print(f"babeldesk: {line}", file=sys.stderr,
                                                    flush=True)))


def cmd_ask(config: Config, args: argparse.Namespace) -> int:
    from .message import Message
    from .pipeline import format_sources

    question = args.question if args.question != "-" else sys.stdin.buffer.read()
    core = _open(config, watch=False)
    try:
        conversation = args.conversation or uuid.uuid4().hex
        message = Message(platform="cli", workspace="local", channel=conversation,
                          thread="", author=args.author, text=question, is_direct=True)

        async def run():
            reply = core.pipeline.respond(message)
            async for chunk in reply:
                if not args.json:
                    sys.stdout.write(chunk)
                    sys.stdout.flush()
            return await reply

        streamed_answer = asyncio.run(run())
    finally:
        core.close()
    if args.json:
        print(json.dumps(streamed_answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        if streamed_answer.kind != "answer":
            print(streamed_answer.text, end="")
        print()
        sources = format_sources(streamed_answer, core.pipeline.texts)
        print(f"[{streamed_answer.language}] {sources}".rstrip())
    return 1 if streamed_answer.kind == "error" else 0


def cmd_index(config: Config, args: argparse.Namespace) -> int:
    from .core import open_knowledge
    from .language import LanguageDetector

    detector = LanguageDetector(config.languages, config.default_language)
    knowledge = open_knowledge(config, detector)
    bar = ProgressBar("indexing knowledge", "file")
    embed_bar = ProgressBar("embedding passages", "passage")
    try:
        report = knowledge.sync(full=args.full, progress=bar, embed_progress=embed_bar)
        bar.close()
        embed_bar.close()
        files = knowledge.files()
        passages = knowledge.passage_count()
    finally:
        knowledge.close()
    width = max([len(f["path"]) for f in files] + [4])
    print(f"{'file':<{width}}  lang  passages  status")
    for f in files:
        status = f"skipped: {f['error']}" if f["error"] else "ok"
        print(f"{f['path']:<{width}}  {f['language'] or '-':<4}  {f['passages']:>8}  {status}")
    print(f"\n{len(files)} files, {passages} passages: {len(report.added)} added, "
          f"{len(report.updated)} updated, {len(report.removed)} removed, "
          f"{report.unchanged} unchanged, {len(report.failed)} failed "
          f"(index: {config.data_dir / 'knowledge.db'})")
    if config.retrieval.dense:
        print(f"embeddings: {report.embedded} passages embedded now, the others kept")
    return 1 if any(f["error"] for f in files) else 0


def cmd_model_pull(config: Config, args: argparse.Namespace) -> int:
    from .models import resolve_model

    bar = ProgressBar("assembling model", "B", scale=True)
    try:
        path = resolve_model(config.model, config.models_dir, progress=bar)
    finally:
        bar.close()
    print(f"{path} ({path.stat().st_size:,} bytes)")
    embedding = config.retrieval.embedding
    if config.retrieval.dense and embedding.source != "embedded":
        path = resolve_model(embedding, config.models_dir)
        print(f"{path} ({path.stat().st_size:,} bytes, embeddings)")
    return 0


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    from .core import load_engine, open_knowledge
    from .language import LanguageDetector
    from .models import resolve_model

    ok = True
    print(f"config     ok: {config.origin}")
    try:
        if config.model.backend == "openai":
            engine = load_engine(config)
            engine.check()
            print(f"model      ok: {engine.name} at {engine.base_url}")
        else:
            path = resolve_model(config.model, config.models_dir, download=False)
            engine = load_engine(config) if args.load else None
            detail = f", loads: {engine.name}, n_ctx {engine.n_ctx}" if engine else ""
            print(f"model      ok: {path}{detail}")
    except BabeldeskError as exc:
        ok = False
        print(f"model      FAIL: {exc}")
    detector = LanguageDetector(config.languages, config.default_language)
    knowledge = open_knowledge(config, detector, download=False)
    try:
        knowledge.sync(full=True)
        files = knowledge.files()
        broken = [f for f in files if f["error"]]
        count = knowledge.passage_count()
    finally:
        knowledge.close()
    if not count:
        ok = False
        print(f"knowledge  FAIL: no passages in {config.knowledge.path}")
    elif broken:
        ok = False
        for f in broken:
            print(f"knowledge  FAIL: {config.knowledge.path / f['path']}: {f['error']}")
    else:
        print(f"knowledge  ok: {len(files)} files, {count} passages in {config.knowledge.path}")
    return 0 if ok else 1


def cmd_history_forget(config: Config, args: argparse.Namespace) -> int:
    from .core import open_history

    if not args.channel and not args.user:
        raise ConfigError("", "history forget needs --channel or --user")
    history = open_history(config)
    try:
        deleted = history.forget(platform=args.platform, workspace=args.workspace,
                                 channel=args.channel, user=args.user)
    finally:
        history.close()
    print(f"deleted {deleted} turns")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="babeldesk", description="Self-hosted multilingual support bot.")
    parser.add_argument("--version", action="version", version=f"babeldesk {__version__}")
    parser.add_argument("-c", "--config", type=Path, default=None,
                        help="config file (default: $BABELDESK_CONFIG or ./config.yaml)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help=COMMANDS["run"])
    p.set_defaults(run=cmd_run)

    p = sub.add_parser("chat", help=COMMANDS["chat"])
    p.add_argument("--conversation", default="default", help="conversation id (default: default)")
    p.set_defaults(run=cmd_chat)

    p = sub.add_parser("ask", help=COMMANDS["ask"])
    p.add_argument("question", help="the question; - reads it from standard input")
    p.add_argument("--json", action="store_true",
                   help="print answer, language, sources, abstained as JSON")
    p.add_argument("--conversation", default=None,
                   help="conversation id, to continue an earlier one (default: a new one)")
    p.add_argument("--author", default="cli", help="who is asking (default: cli)")
    p.set_defaults(run=cmd_ask)

    p = sub.add_parser("index", help=COMMANDS["index"])
    p.add_argument("--full", action="store_true",
                   help="compare every file's content, not only changed sizes and times")
    p.set_defaults(run=cmd_index)

    p = sub.add_parser("model", help="manage the model file")
    model_sub = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    pp = model_sub.add_parser("pull", help=COMMANDS["model pull"])
    pp.set_defaults(run=cmd_model_pull)

    p = sub.add_parser("check", help=COMMANDS["check"])
    p.add_argument("--no-load", dest="load", action="store_false",
                   help="do not load the model, only check that its file is there")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("history", help="manage stored conversations")
    history_sub = p.add_subparsers(dest="history_command", required=True, metavar="ACTION")
    pp = history_sub.add_parser("forget", help=COMMANDS["history forget"])
    pp.add_argument("--channel", help="channel id: every conversation in it")
    pp.add_argument("--user", help="user id: every turn by or for this user")
    pp.add_argument("--platform", help="only on this platform (slack, discord, terminal, cli)")
    pp.add_argument("--workspace", help="only in this Slack team or Discord guild")
    pp.set_defaults(run=cmd_history_forget)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    run: Callable[[Config, argparse.Namespace], int] = args.run
    try:
        config = load_config(args.config)
        return run(config, args)
    except BabeldeskError as exc:
        print(f"babeldesk: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
