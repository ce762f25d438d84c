"""The `babeldesk` command."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

from . import __version__
from .config import Config, load_config
from .errors import BabeldeskError, ConfigError

log = logging.getLogger("babeldesk")

#: SQLite's words for a database file that cannot be written or opened
STORAGE_ERRORS = ("readonly database", "unable to open database", "disk I/O error",
                  "database or disk is full")

COMMANDS = {
    "run": "answer on every chat platform whose credentials are set (Slack, Discord, HTTP) "
           "until stopped, with /healthz and /metrics",
    "chat": "talk to babeldesk in this terminal (streams answers, shows language and sources)",
    "ask": "answer one question and exit; --json for scripts",
    "index": "index the knowledge folder and report every file",
    "model pull": "assemble the embedded model or download the configured one",
    "check": "check the config, the model and the knowledge; exit 0 when all is well",
    "history forget": "delete the stored history of a channel or of a user",
    "history actions": "list the actions babeldesk called: when, in which conversation, with "
                       "what, how it went and how long it took",
    "eval": "put questions files to the bot and report hit@1/hit@3, declined questions and "
            "off-topic questions answered per language, wrong-language answers and unanswered "
            "questions",
    "export-training": "write the conversations babeldesk answered well as fine-tuning data "
                       "(JSON Lines: mistral, openai or sharegpt), personal data masked",
    "report": "what the support team learns from the history: outcomes per platform, channel "
              "and language, the questions nothing answered grouped by meaning, 👎 answers, "
              "slow answers; --html, --json, --draft an article for a group",
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
    # An embedding in the background outlives start-up: it reports to the log and /healthz.
    embed_bar = None if kwargs.get("embed_in_background") else \
        ProgressBar("embedding passages", "passage")
    try:
        return open_core(config, model_progress=model_bar, index_progress=index_bar,
                         embed_progress=embed_bar, **kwargs)
    finally:
        model_bar.close()
        index_bar.close()
        if embed_bar:
            embed_bar.close()


def cmd_chat(config: Config, args: argparse.Namespace) -> int:
    from adapters import check_settings
    from adapters.terminal import TerminalAdapter

    check_settings(config)
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
    from adapters import check_settings, serve

    check_settings(config)
    # Answers start once the files are indexed; passages are embedded while serving.
    return asyncio.run(serve(config, lambda: _open(config, embed_in_background=True),
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
        # "language" is the one babeldesk answered for (the question's, or the conversation's);
        # "answer_language" the one the answer's text is written in.
        data = {**streamed_answer.to_dict(),
                "answer_language": core.pipeline.answer_language(streamed_answer)}
        print(json.dumps(data, ensure_ascii=False, indent=2))
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
        suspicious = knowledge.suspicious_passages()
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
    if suspicious:
        # Served all the same (an article may quote such text for a reason), but answers that
        # ask for a secret are withheld: the editors should look.
        print(f"\n{len(suspicious)} passages to review:")
        for source, finding in suspicious:
            print(f"warning: {source.label}: {finding}")
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
    from .core import load_engine, open_knowledge, probe_model
    from .language import LanguageDetector
    from .models import EMBEDDED, resolve_model

    from .core import prepare_data_dir

    from adapters import check_settings

    check_settings(config)  # the chat platforms' keys, beside the core's
    prepare_data_dir(config)  # a data_dir that cannot be written is the config's one line
    ok = True
    print(f"config     ok: {config.origin}")
    try:
        if config.model.backend == "openai":
            engine = load_engine(config)
            engine.check()
            print(f"model      ok: {engine.name} at {engine.base_url}")
        elif not args.load:
            path = resolve_model(config.model, config.models_dir, download=False)
            print(f"model      ok: {path} (not loaded: --no-load)")
        else:
            path, probe = probe_model(config, download=False)
            print(f"build      ok: llama-cpp-python {probe.llama_cpp_version}, llama.cpp "
                  f"system info: {probe.system_info}")
            engine = load_engine(config, model=path)
            embedded = f"the embedded {EMBEDDED.name}, " if config.model.source == "embedded" \
                else ""
            print(f"model      ok: {path} ({embedded}quantisation "
                  f"{probe.quantisation or 'not stated'}, GGUF metadata name "
                  f"{probe.model_name!r}), loads, n_ctx {engine.n_ctx}")
            if engine.lora:
                print(f"lora       ok: {engine.lora[0]} applied at scale {engine.lora[1]:g}")
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
    ok = check_ocr(config) and ok
    return 0 if ok else 1


def check_ocr(config: Config) -> bool:
    """One line on reading screenshots: which Tesseract models are missing, and the command
    that installs them."""
    from .ocr import TextReader, package_of

    attachments = config.attachments
    if not attachments.enabled or not attachments.ocr:
        print("ocr        off (attachments.ocr: false)")
        return True
    reader = TextReader(config.languages, config.default_language)
    problem = reader.problem()
    if problem:
        print(f"ocr        FAIL: {problem}")
        return False
    missing = reader.missing()
    if missing:
        print(f"ocr        FAIL: no Tesseract model for {', '.join(missing)} in "
              f"{reader.tessdata}: apt-get install {' '.join(map(package_of, missing))}")
        return False
    print(f"ocr        ok: Tesseract models for {len(config.languages)} languages in "
          f"{reader.tessdata}")
    return True


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


def cmd_history_actions(config: Config, args: argparse.Namespace) -> int:
    from .core import open_history
    from .history import ConversationKey

    key = ConversationKey(*args.conversation.split("/", 3)) if args.conversation else None
    since = since_of(args.since)
    history = open_history(config)
    try:
        calls = history.action_calls(key, since=since, limit=args.limit)
    finally:
        history.close()
    if args.json:
        print(json.dumps([dataclasses.asdict(c) for c in calls], ensure_ascii=False, indent=1))
        return 0
    if not calls:
        print("no action calls")
        return 0
    rows = [(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(c.created)), c.conversation_id,
             c.action, json.dumps(c.arguments, ensure_ascii=False), c.status,
             f"{c.seconds:.2f}", c.error) for c in calls]
    headers = ("when", "conversation", "action", "arguments", "status", "seconds", "error")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    for row in (headers, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def cmd_export_training(config: Config, args: argparse.Namespace) -> int:
    from .core import open_history
    from .export import export_training

    since = since_of(args.since)
    history = open_history(config)
    try:
        report = export_training(history, args.out, args.format, since=since,
                                 min_feedback=args.min_feedback or "")
    finally:
        history.close()
    print(report.summary())
    print(f"written to {args.out} ({args.format} format)")
    return 0


def since_of(text: str | None) -> float:
    """The moment an age given to --since reaches back to; 0.0 (everything stored) when none
    or 0 is given."""
    age = parse_age(text) if text else 0.0
    return time.time() - age if age else 0.0


def parse_age(text: str) -> float:
    """"30d", "12h", "45m" or seconds, as seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    text = text.strip().lower()
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise ConfigError("--since", f"must be an age like 30d, 12h or 45m, got {text!r}"
                          ) from None


def cmd_eval(config: Config, args: argparse.Namespace) -> int:
    from .evaluate import RetrievalOnly, check_expectations, joined, load_questions, run

    files = [load_questions(path, config.languages) for path in args.questions]
    extra = {} if args.answers else {"engine": RetrievalOnly()}
    core = _open(config, watch=False, **extra)
    bar = ProgressBar("evaluating", "question")
    try:
        for path, questions in zip(args.questions, files):
            check_expectations(path, questions, core.knowledge)
        evaluation = run(core.pipeline, joined(files), answers=args.answers, progress=bar)
    finally:
        bar.close()
        core.close()
    data = json.dumps(evaluation.to_dict(), ensure_ascii=False, indent=2)
    if args.json == "-":
        print(data)
    else:
        print(_format_evaluation(evaluation))
    if args.json and args.json != "-":
        try:
            Path(args.json).write_text(data + "\n", encoding="utf-8")
        except OSError as exc:
            raise BabeldeskError(f"cannot write {args.json}: {exc.strerror or exc}") from None
    return 0 if evaluation.passed else 1


def _format_evaluation(evaluation) -> str:
    """The per-language table, then the questions that need a look."""
    def ratio(hits: int, of: int) -> str:
        return f"{hits}/{of}" if of else "-"

    header = ("language", "questions", "hit@1", "hit@3", "declined", "off-topic answered",
              "wrong language", "check failed", "quoted", "missing facts")
    rows = []
    for language, s in [*evaluation.languages.items(), ("all", evaluation.total)]:
        judged = evaluation.answers
        rows.append((language, str(s.questions), ratio(s.hit1, s.answerable),
                     ratio(s.hit3, s.answerable), ratio(s.declined, s.answerable),
                     ratio(s.off_topic_answered, s.off_topic),
                     *(str(n) if judged else "-" for n in (
                         s.wrong_language or 0, s.check_failed, s.quoted, s.missing_facts))))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    lines.insert(len(lines) - 1, "  ".join("-" * w for w in widths))

    def item(r, detail: str) -> str:
        return f"  #{r.question.number} [{r.language}] {r.question.text!r}: {detail}"

    def expected(r) -> str:
        return " or ".join(e.label for e in r.question.expect)

    def top(r) -> str:
        return "; ".join(f"{p} › {h} ({rel:.2f})" for p, h, rel in r.retrieved) or "nothing"

    sections = [
        ("wrong-language answers", evaluation.wrong_language(),
         lambda r: f"answered in {r.answer_language}"),
        ("unexpected abstentions", evaluation.unexpected_abstentions(),
         lambda r: f"abstained; expected {expected(r)}"),
        ("answered but should abstain", evaluation.should_have_abstained(),
         lambda r: f"answered from {top(r)}"),
        ("questions nothing answers", evaluation.unanswered(),
         lambda r: f"expected {expected(r)}; retrieved {top(r)}"),
        ("neither answered nor abstained", evaluation.failed(), lambda r: f"{r.kind}"),
        ("answers that failed the check", evaluation.check_failed(),
         lambda r: f"{r.check}; sent {r.origin if r.answered else r.kind}"),
        ("answers with numbers no passage gives", evaluation.foreign_numbers(),
         lambda r: ", ".join(r.foreign_numbers)),
        ("answers missing a fact they must state", evaluation.missing_facts(),
         lambda r: "missing " + ", ".join(repr(f) for f in r.missing)),
    ]
    for title, results, detail in sections:
        if not results and (title.startswith("neither") or not evaluation.answers
                            and title.startswith("answers ")):
            continue
        lines.append("")
        lines.append(f"{title}: {len(results) or 'none'}")
        lines += [item(r, detail(r)) for r in results]
    mode = "" if evaluation.answers else " (retrieval only: --no-answers)"
    verdict = "all as expected" if evaluation.passed else "some not as expected"
    lines.append(f"\n{len(evaluation.results)} questions in {evaluation.seconds:.1f} s{mode}: "
                 f"{verdict}")
    return "\n".join(lines)


def cmd_report(config: Config, args: argparse.Namespace) -> int:
    from .report import append_questions, find_group, format_text, report_for, write_draft
    from .report_html import render_html

    if args.questions and not args.draft:
        raise ConfigError("--questions", "goes with --draft GROUP_ID: the questions of the "
                                         "group the draft is written for")
    report = report_for(config, since_of(args.since), show_users=args.show_users)
    outputs = [(args.json, lambda: json.dumps(report, ensure_ascii=False, indent=1) + "\n"),
               (args.html, lambda: render_html(report))]
    for path, render in outputs:
        if path:
            try:
                Path(path).write_text(render(), encoding="utf-8")
            except OSError as exc:
                raise BabeldeskError(f"cannot write {path}: {exc.strerror or exc}") from None
            print(f"wrote {path}", file=sys.stderr)
    if args.draft:
        group = find_group(report, args.draft)
        print(f"draft: {write_draft(group, config.knowledge.path)}")
        if args.questions:
            added = append_questions(group, args.questions)
            print(f"questions: {added} added to {args.questions}")
        return 0
    print(format_text(report))
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
    pp = history_sub.add_parser("actions", help=COMMANDS["history actions"])
    pp.add_argument("--conversation", help="only this conversation (its id: "
                                           "platform/workspace/channel/thread)")
    pp.add_argument("--since", help="only calls younger than this: 30d, 12h, 45m")
    pp.add_argument("--limit", type=int, default=100, help="the last N calls (default 100)")
    pp.add_argument("--json", action="store_true", help="as JSON")
    pp.set_defaults(run=cmd_history_actions)

    p = sub.add_parser("eval", help=COMMANDS["eval"])
    p.add_argument("questions", type=Path, metavar="QUESTIONS.yaml", nargs="+",
                   help="questions files (YAML or JSON Lines), each question with the "
                        "knowledge file that should answer it, or none")
    p.add_argument("--json", metavar="PATH", default=None,
                   help="also write the results as JSON to PATH (- for standard output only)")
    p.add_argument("--no-answers", dest="answers", action="store_false",
                   help="measure retrieval only, without the model (fast)")
    p.set_defaults(run=cmd_eval)

    p = sub.add_parser("export-training", help=COMMANDS["export-training"])
    p.add_argument("out", type=Path, metavar="OUT.jsonl", help="the file to write")
    p.add_argument("--format", choices=("mistral", "openai", "sharegpt"), default="mistral",
                   help="mistral (Mistral's fine-tuning API; the default), openai (OpenAI's "
                        "chat fine-tuning, most LoRA trainers' messages) or sharegpt")
    p.add_argument("--min-feedback", choices=("up",), default=None,
                   help="up: only answers someone gave a thumbs up")
    p.add_argument("--since", help="only answers younger than this: 30d, 12h, 45m")
    p.set_defaults(run=cmd_export_training)

    p = sub.add_parser("report", help=COMMANDS["report"])
    p.add_argument("--since", default="30d",
                   help="only answers younger than this: 30d (default), 12h, 0 for all stored")
    p.add_argument("--html", metavar="PATH", help="also write the report as one HTML page")
    p.add_argument("--json", metavar="PATH", help="also write the whole report as JSON")
    p.add_argument("--show-users", action="store_true",
                   help="show platform user ids (hidden by default)")
    p.add_argument("--draft", metavar="GROUP_ID",
                   help="write a draft article for a group of unanswered questions to "
                        "drafts/ beside the knowledge folder")
    p.add_argument("--questions", metavar="FILE", type=Path,
                   help="with --draft: append the group's questions to this questions file "
                        "for `babeldesk eval`")
    p.set_defaults(run=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    run: Callable[[Config, argparse.Namespace], int] = args.run
    config = None
    try:
        config = load_config(args.config)
        return run(config, args)
    except BabeldeskError as exc:
        print(f"babeldesk: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except sqlite3.OperationalError as exc:
        # A database file the data folder holds but this user cannot write (a volume
        # restored as read-only, files owned by another user): the setting, not a bug.
        if config is None or not any(words in str(exc) for words in STORAGE_ERRORS):
            raise
        error = ConfigError("data_dir", f"a database in {config.data_dir} cannot be written: "
                                        f"{exc} (check its files' permissions and owner; in a "
                                        "container: is the data volume writable by the "
                                        "babeldesk user?)")
        print(f"babeldesk: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
