"""What the support team learns from the history: how the bot fared per platform, channel and
language, the questions nothing in the knowledge answered (grouped by meaning, across
languages), the answers customers gave a 👎 and the slowest ones (`babeldesk report`).

The history is opened read-only: the report sees what retention (`history.max_age_days`) and
`babeldesk history forget` left, and changes nothing. Platform user ids stay out of it unless
asked for, and e-mail addresses and phone numbers in what customers wrote are masked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from .errors import BabeldeskError
from .privacy import mask_personal

if TYPE_CHECKING:
    from .embeddings import Embedder
    from .knowledge import KnowledgeBase

log = logging.getLogger(__name__)

#: average similarity above which two groups of questions are one, for the two models'
#: vectors side by side (multilingual-e5-small's "query: " vectors and the Universal Sentence
#: Encoder's, the mean of their cosines) and for e5 alone (retrieval.embedding.second: none):
#: bench/report_groups.py measures both on 75 labelled questions in 7 languages
GROUP_SIMILARITY = 0.70
GROUP_SIMILARITY_FIRST_ONLY = 0.87
#: the most unanswered questions grouped in one report (the most recent ones): the grouping
#: compares every pair, and a support team reads the largest groups anyway
MAX_GROUPED = 3000
#: examples shown per group, slow and thumbed-down answers listed
EXAMPLES = 5
LISTED = 20

#: how each answer kind (bot.message.Answer.kind) is counted; declined = the `abstained` flag
REFUSED = frozenset({"refused", "attachment_refused"})
ERRORS = frozenset({"error", "stopped", "action_failed"})
ANSWERED = frozenset({"answer", "interrupted", "confirm", "action_ask", "handoff_offered"})
OUTCOMES = ("answered", "declined", "handed_off", "refused", "error", "other")


class ReportError(BabeldeskError):
    pass


# -- reading the history --

@dataclass
class Exchange:
    """A customer's message and babeldesk's answer to it."""

    question_id: int | None
    answer_id: int
    conversation: str
    platform: str
    channel: str
    language: str
    question: str
    answer: str
    author: str
    sources: list[dict]
    kind: str
    outcome: str
    first_token: float | None
    seconds: float | None
    created: float
    up: int = 0
    down: int = 0
    voters: list[str] = field(default_factory=list)


def outcome_of(kind: str | None, abstained: bool) -> str:
    if abstained:
        return "declined"
    kind = kind or "answer"  # turns stored before outcomes were kept
    if kind == "handed_off":
        return "handed_off"
    if kind in REFUSED:
        return "refused"
    if kind in ERRORS:
        return "error"
    return "answered" if kind in ANSWERED else "other"


def open_read_only(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise ReportError(f"there is no history at {path} yet: babeldesk has answered nothing "
                          "with this data_dir")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        conn.execute("SELECT kind, first_token, seconds FROM turns LIMIT 1")
    except sqlite3.OperationalError as exc:
        raise ReportError(f"cannot read the history {path}: {exc} (a history written by an "
                          "older babeldesk is upgraded by the next `babeldesk run`)") from None
    return conn


def read_exchanges(path: Path, since: float = 0.0) -> tuple[list[Exchange], list[dict]]:
    """The exchanges answered at or after `since`, oldest first, and the conversations handed
    to a person (platform, channel, language, created)."""
    conn = open_read_only(path)
    try:
        rows = conn.execute(
            "SELECT a.id, q.id, a.conversation_id, c.platform, c.channel, "
            "coalesce(nullif(q.language, ''), nullif(a.language, ''), c.language, ''), "
            "coalesce(q.text, ''), a.text, coalesce(q.author, ''), a.sources, a.kind, "
            "a.abstained, a.first_token, a.seconds, a.created "
            "FROM turns a JOIN conversations c ON c.id = a.conversation_id "
            # add_exchange stores a question and its answer together, one after the other;
            # an answer whose question was forgotten (a user's history) has none.
            "LEFT JOIN turns q ON q.id = a.id - 1 AND q.conversation_id = a.conversation_id "
            "AND q.role = 'user' "
            "WHERE a.role = 'assistant' AND a.created >= ? ORDER BY a.id", [since]).fetchall()
        votes = defaultdict(list)
        for turn_id, user, value in conn.execute(
                "SELECT turn_id, user, value FROM feedback WHERE turn_id IN (SELECT id FROM "
                "turns WHERE role = 'assistant' AND created >= ?)", [since]):
            votes[turn_id].append((user, value))
        handoffs = [dict(zip(("platform", "channel", "language", "created"), row))
                    for row in conn.execute(
                        "SELECT c.platform, c.channel, coalesce(c.language, ''), h.created "
                        "FROM handoffs h JOIN conversations c ON c.id = h.conversation_id "
                        "WHERE h.created >= ?", [since])]
    finally:
        conn.close()
    exchanges = []
    for (answer_id, question_id, conversation, platform, channel, language, question, answer,
         author, sources, kind, abstained, first_token, seconds, created) in rows:
        vote = votes.get(answer_id, [])
        exchanges.append(Exchange(
            question_id, answer_id, conversation, platform, channel, language or "", question,
            answer, author, json.loads(sources or "[]"), kind or "",
            outcome_of(kind, bool(abstained)), first_token, seconds, created,
            up=sum(v > 0 for _, v in vote), down=sum(v < 0 for _, v in vote),
            voters=[u for u, _ in vote]))
    return exchanges, handoffs


# -- grouping the questions nothing answered --

def group_by_meaning(vectors: np.ndarray, threshold: float = GROUP_SIMILARITY,
                     weights: np.ndarray | None = None) -> list[list[int]]:
    """Average-linkage clustering of unit vectors: the two groups whose members are most
    alike on average merge, until no pair is alike above `threshold`. Average rather than
    single linkage: a chain of near neighbours does not pull unrelated questions together.
    `weights` counts a row as that many questions (the same text asked again)."""
    n = len(vectors)
    if n == 0:
        return []
    sizes = np.ones(n) if weights is None else np.asarray(weights, dtype=float).copy()
    sim = (vectors @ vectors.T).astype(np.float64)
    np.fill_diagonal(sim, -np.inf)
    # Each row's best partner, kept up to date at each merge: a merge changes two rows and
    # one column, so finding the next pair costs O(n), not a scan of the whole matrix.
    partner = sim.argmax(axis=1)
    best = sim[np.arange(n), partner]
    members = [[i] for i in range(n)]
    while True:
        i = int(np.argmax(best))
        if best[i] < threshold:
            break
        j = int(partner[i])
        # The merged group's similarity to each other group: its members' mean.
        row = (sim[i] * sizes[i] + sim[j] * sizes[j]) / (sizes[i] + sizes[j])
        row[i] = row[j] = -np.inf
        sim[i], sim[:, i] = row, row
        sim[j], sim[:, j] = -np.inf, -np.inf
        sizes[i] += sizes[j]
        members[i] += members[j]
        members[j] = []
        best[j] = -np.inf
        partner[i], best[i] = int(np.argmax(row)), row.max()
        stale = np.flatnonzero((partner == i) | (partner == j))
        for k in stale:
            if k != i and best[k] > -np.inf:
                partner[k] = int(np.argmax(sim[k]))
                best[k] = sim[k, partner[k]]
        better = row > best
        partner[better], best[better] = i, row[better]
    return [sorted(m) for m in members if m]


def question_vectors(texts: list[str], embedder: "Embedder",
                     second: "Embedder | None" = None) -> np.ndarray:
    """Vectors whose dot product compares two questions. e5 is trained to find the passage
    that answers a question, and rates any two support questions alike; the Universal
    Sentence Encoder, trained on pairs of questions, tells intents apart far better (97% of
    the questions in a group of their own intent, 87% of an intent in one group, against 39%
    and 88% for e5 alone: bench/report_groups.py); e5 keeps the languages the encoder does not
    read from being noise alone."""
    first = embedder.embed_queries(texts)
    if second is None:
        return first
    return np.hstack([first, second.embed_queries(texts)]) / np.sqrt(2)


def group_id(text: str) -> str:
    """A short id for a group, from its central question: the same in every report while the
    group's centre stays the same, whatever else was asked."""
    normal = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return "g" + hashlib.sha1(normal.encode("utf-8")).hexdigest()[:7]


def unanswered_groups(exchanges: list[Exchange], embedder: "Embedder | None",
                      knowledge: "KnowledgeBase | None" = None,
                      threshold: float | None = None, show_users: bool = False,
                      second: "Embedder | None" = None) -> list[dict]:
    """The questions whose answer was declined, grouped by meaning across languages, largest
    group first, each with the knowledge section nearest its central question."""
    declined = [e for e in exchanges if e.outcome == "declined" and e.question.strip()]
    if len(declined) > MAX_GROUPED:
        log.warning("grouping the %d most recent of %d unanswered questions", MAX_GROUPED,
                    len(declined))
        declined = declined[-MAX_GROUPED:]
    # The same words asked again are one row, weighted by how often.
    by_text: dict[str, list[Exchange]] = defaultdict(list)
    for e in declined:
        by_text[" ".join(e.question.split())].append(e)
    texts = list(by_text)
    if not texts:
        return []
    if embedder is None:
        log.warning("no embedding model (retrieval.dense: false): only questions asked in the "
                    "same words are grouped")
        clusters = [[i] for i in range(len(texts))]
        vectors = np.eye(len(texts), dtype=np.float32)
    else:
        log.info("embedding %d unanswered questions", len(texts))
        vectors = question_vectors(texts, embedder, second)
        if threshold is None:
            threshold = GROUP_SIMILARITY if second is not None else GROUP_SIMILARITY_FIRST_ONLY
        clusters = group_by_meaning(vectors, threshold,
                                    np.array([len(by_text[t]) for t in texts]))
    groups = []
    for cluster in clusters:
        # The medoid: the question most like the others, the group's name.
        weights = np.array([len(by_text[texts[i]]) for i in cluster], float)
        centre = (vectors[cluster] @ vectors[cluster].T) @ weights
        medoid = texts[cluster[int(np.argmax(centre))]]
        asked = [e for i in cluster for e in by_text[texts[i]]]
        asked.sort(key=lambda e: e.created, reverse=True)
        languages = Counter(e.language or "?" for e in asked)
        examples, seen = [], set()
        for e in asked:  # one example per wording, in as many languages as there are
            key = " ".join(e.question.split())
            if key in seen:
                continue
            seen.add(key)
            examples.append(e)
        rank = {lang: i for i, (lang, _) in enumerate(languages.most_common())}
        examples.sort(key=lambda e: (rank[e.language or "?"], -e.created))
        by_language: dict[str, Exchange] = {}
        for e in examples:
            by_language.setdefault(e.language or "?", e)
        picked = list(by_language.values())[:EXAMPLES]
        picked += [e for e in examples if e not in picked][:EXAMPLES - len(picked)]
        groups.append({
            "id": group_id(medoid),
            "question": mask_personal(medoid),
            "count": len(asked),
            "languages": dict(languages.most_common()),
            "examples": [_example(e, show_users) for e in picked],
            "questions": [_example(e, show_users) for e in examples],
            "last_asked": max(e.created for e in asked),
            "nearest": _nearest(knowledge, medoid, by_text[medoid][0].language),
        })
    groups.sort(key=lambda g: (-g["count"], -g["last_asked"], g["id"]))
    return groups


def _example(e: Exchange, show_users: bool) -> dict:
    item = {"text": mask_personal(e.question), "language": e.language,
            "platform": e.platform, "created": e.created}
    if show_users:
        item["author"] = e.author
    return item


def _nearest(knowledge: "KnowledgeBase | None", question: str, language: str) -> dict | None:
    if knowledge is None:
        return None
    try:
        hits = knowledge.search(question, language or None, 1)
    except Exception:  # noqa: BLE001 - an index being rebuilt: the report goes on without it
        log.warning("could not search the knowledge for %r", question, exc_info=True)
        return None
    if not hits:
        return None
    hit = hits[0]
    return {"path": hit.passage.path, "heading": hit.passage.heading,
            "title": hit.passage.title, "relevance": round(float(hit.relevance), 3)}


# -- the whole report --

def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def _tally(exchanges: list[Exchange], handed_off: int = 0) -> dict:
    outcomes = Counter(e.outcome for e in exchanges)
    waits = [e.first_token for e in exchanges if e.first_token is not None]
    return {
        "messages": len(exchanges),
        "answered": outcomes["answered"],
        "declined": outcomes["declined"],
        "handed_off": handed_off,
        "refused": outcomes["refused"],
        "errors": outcomes["error"],
        "thumbs_up": sum(e.up for e in exchanges),
        "thumbs_down": sum(e.down for e in exchanges),
        "first_token_median": _percentile(waits, 50),
        "first_token_p95": _percentile(waits, 95),
    }


def build_report(exchanges: list[Exchange], handoffs: list[dict],
                 embedder: "Embedder | None" = None, knowledge: "KnowledgeBase | None" = None,
                 since: float = 0.0, show_users: bool = False,
                 threshold: float | None = None, now: float | None = None,
                 second: "Embedder | None" = None) -> dict:
    """Everything `babeldesk report` shows, as plain data (what --json writes)."""
    now = time.time() if now is None else now
    handed = Counter((h["platform"], h["channel"], h["language"]) for h in handoffs)
    rows = defaultdict(list)
    for e in exchanges:
        rows[(e.platform, e.channel, e.language)].append(e)
    table = [{"platform": p, "channel": c, "language": lang, **_tally(es, handed[(p, c, lang)])}
             for (p, c, lang), es in rows.items()]
    for key in set(handed) - set(rows):  # handed off, then nothing answered in the period
        table.append({"platform": key[0], "channel": key[1], "language": key[2],
                      **_tally([], handed[key])})
    table.sort(key=lambda r: (-r["messages"], r["platform"], r["channel"], r["language"]))

    days: dict[str, Counter] = defaultdict(Counter)
    for e in exchanges:
        days[time.strftime("%Y-%m-%d", time.gmtime(e.created))][e.outcome] += 1
    declines = Counter(e.language or "?" for e in exchanges if e.outcome == "declined")

    def listed(e: Exchange) -> dict:
        item = {"answer_id": e.answer_id, "platform": e.platform, "channel": e.channel,
                "language": e.language, "question": mask_personal(e.question),
                "answer": mask_personal(e.answer), "sources": e.sources, "kind": e.kind,
                "outcome": e.outcome, "first_token": e.first_token, "seconds": e.seconds,
                "thumbs_up": e.up, "thumbs_down": e.down, "created": e.created}
        if show_users:
            item["author"], item["voters"] = e.author, e.voters
        return item

    thumbed = sorted((e for e in exchanges if e.down), key=lambda e: (-e.down, -e.created))
    timed = [e for e in exchanges if e.first_token is not None or e.seconds is not None]
    slow = sorted(timed, key=lambda e: (-(e.first_token or 0), -(e.seconds or 0)))
    return {
        "generated": now,
        "since": since or None,
        "show_users": show_users,
        "totals": _tally(exchanges, len(handoffs)),
        "table": table,
        "days": {day: {o: counts[o] for o in OUTCOMES} for day, counts in sorted(days.items())},
        "declines_by_language": dict(declines.most_common()),
        "unanswered": unanswered_groups(exchanges, embedder, knowledge, threshold,
                                        show_users, second),
        "thumbs_down": [listed(e) for e in thumbed[:LISTED]],
        "slow": [listed(e) for e in slow[:LISTED]],
    }


# -- the text summary --

def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _share(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.0f}%)" if whole else str(part)


def _columns(headers: tuple, rows: list[tuple]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    return ["  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w)
                      for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in [headers, *rows]]


def format_text(report: dict) -> str:
    """The summary `babeldesk report` prints."""
    t = report["totals"]
    since = (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(report["since"]))
             if report["since"] else "the start of the stored history")
    lines = [f"babeldesk report: since {since}",
             f"{t['messages']} messages: {_share(t['answered'], t['messages'])} answered, "
             f"{_share(t['declined'], t['messages'])} declined, {t['handed_off']} handed off, "
             f"{t['refused']} refused, {t['errors']} errors; 👍 {t['thumbs_up']}  "
             f"👎 {t['thumbs_down']}; first words after {_seconds(t['first_token_median'])} s "
             f"(median), {_seconds(t['first_token_p95'])} s (p95)", ""]
    headers = ("platform", "channel", "language", "messages", "answered", "declined",
               "handed off", "refused", "errors", "👍", "👎", "median s", "p95 s")
    lines += _columns(headers, [
        (r["platform"], r["channel"], r["language"] or "?", r["messages"], r["answered"],
         r["declined"], r["handed_off"], r["refused"], r["errors"], r["thumbs_up"],
         r["thumbs_down"], _seconds(r["first_token_median"]), _seconds(r["first_token_p95"]))
        for r in report["table"]])
    groups = report["unanswered"]
    lines += ["", f"questions nothing answered: {sum(g['count'] for g in groups)} in "
                  f"{len(groups)} groups (babeldesk report --draft ID writes an article draft)"]
    for g in groups[:LISTED]:
        languages = ", ".join(f"{lang} {n}" for lang, n in g["languages"].items())
        lines.append(f"  {g['id']}  {g['count']}×  [{languages}]  {g['question']}")
        for ex in g["examples"]:
            who = f" ({ex['author']})" if "author" in ex else ""
            lines.append(f"      [{ex['language']}] {ex['text']}{who}")
        near = g["nearest"]
        if near:
            label = f"{near['path']} › {near['heading']}" if near["heading"] else near["path"]
            lines.append(f"      nearest knowledge: {label} ({near['relevance']:.2f})")
    if len(groups) > LISTED:
        lines.append(f"  … and {len(groups) - LISTED} smaller groups (--html or --json: all)")
    if report["thumbs_down"]:
        lines += ["", f"answers with a 👎: {len(report['thumbs_down'])}"]
        for item in report["thumbs_down"]:
            sources = "; ".join(s.get("path", "") for s in item["sources"]) or "no sources"
            lines.append(f"  👎{item['thumbs_down']} [{item['language']}] {item['question']!r} "
                         f"→ {_clip(item['answer'])!r} ({sources})")
    if report["slow"]:
        lines += ["", "slowest answers (seconds to first words / to the end):"]
        for item in report["slow"][:5]:
            lines.append(f"  {_seconds(item['first_token'])} / {_seconds(item['seconds'])}  "
                         f"[{item['platform']} {item['language']}] {_clip(item['question'])!r}")
    return "\n".join(lines)


def _clip(text: str, length: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[:length - 1] + "…"


# -- from a group to an article --

def find_group(report: dict, wanted: str) -> dict:
    for group in report["unanswered"]:
        if group["id"] == wanted:
            return group
    known = ", ".join(g["id"] for g in report["unanswered"][:10]) or "none in this period"
    raise ReportError(f"no group {wanted!r} among the questions nothing answered "
                      f"(groups: {known}); the same --since as the report that listed it?")


def slug(text: str, fallback: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "-".join(words)[:60].strip("-") or fallback


def main_language(group: dict) -> str:
    return next(iter(group["languages"]), "en")


def article_path(group: dict) -> str:
    """Where the article belongs in the knowledge folder: its main language's folder."""
    language = main_language(group)
    english = [ex["text"] for ex in group["questions"] if ex["language"] == language]
    return f"{language}/{slug(english[0] if english else group['question'], group['id'])}.md"


def write_draft(group: dict, knowledge_folder: Path) -> Path:
    """A Markdown draft for the group in drafts/ beside the knowledge folder (not in it: the
    bot serves nothing from there until an editor moves it in); returns its path."""
    relative = article_path(group)
    target = Path(knowledge_folder).resolve().parent / "drafts" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    language = main_language(group)
    title = next((ex["text"] for ex in group["questions"] if ex["language"] == language),
                 group["question"])
    languages = ", ".join(f"{lang} ({n})" for lang, n in group["languages"].items())
    asked = "\n".join(f"- [{ex['language']}] {ex['text']}" for ex in group["questions"])
    target.write_text(
        f"# {title}\n\n"
        f"<!-- Draft from `babeldesk report --draft {group['id']}`: customers asked this "
        f"{group['count']} times ({languages}) and the knowledge had no answer. Write the "
        f"answer, delete these notes and the list of questions, then move the file to "
        f"{Path(knowledge_folder).name}/{relative}; with `--questions FILE` the report adds "
        f"these questions to FILE, for `babeldesk eval FILE` to check the article. -->\n\n"
        f"## What customers asked\n\n{asked}\n\n"
        f"## Answer\n\n"
        f"TODO: the answer in one or two sentences.\n\n"
        f"1. TODO: the first step.\n2. TODO: the next step.\n\n"
        f"TODO: what to do when this does not work (and whom to contact).\n",
        encoding="utf-8")
    return target


def append_questions(group: dict, path: Path) -> int:
    """Append the group's questions to a questions file (questions.yaml's format), each
    expecting the article its draft becomes; returns how many were new."""
    path = Path(path)
    expect = article_path(group)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    data = yaml.safe_load(existing) if existing.strip() else None
    if data is not None and not (isinstance(data, dict)
                                 and isinstance(data.get("questions"), list)):
        raise ReportError(f"{path} is not a questions file (a `questions:` list)")
    known = {str(q.get("question", "")).strip() for q in (data or {}).get("questions", [])
             if isinstance(q, dict)}
    entries = [{"question": ex["text"], "expect": expect, "language": ex["language"]}
               for ex in group["questions"] if ex["text"].strip() not in known and
               ex["language"] and ex["language"] != "?"]
    if not entries:
        return 0
    indent = "  "
    found = re.findall(r"^( *)- question:", existing, re.MULTILINE)
    if found:
        indent = found[-1]
    text = existing
    if not existing.strip():
        text = ("# Questions for `babeldesk eval`: written by `babeldesk report --questions` "
                "from questions\n# nothing answered; each expects the article drafted for "
                "them.\nquestions:\n")
    elif not text.endswith("\n"):
        text += "\n"
    text += f"{indent}# {group['id']}: {group['question']}\n"
    for entry in entries:
        dumped = yaml.safe_dump([entry], allow_unicode=True, sort_keys=False, width=1000)
        text += "".join(indent + line for line in dumped.splitlines(keepends=True))
    check = yaml.safe_load(text)
    if len(check["questions"]) != len((data or {}).get("questions", [])) + len(entries):
        raise ReportError(f"cannot append to {path}: its `questions:` list is not the last "
                          "thing in it")
    path.write_text(text, encoding="utf-8")
    return len(entries)


def report_for(config, since: float = 0.0, show_users: bool = False) -> dict:
    """The report on the configured history, with the configured embedding models and the
    knowledge's index as it stands (nothing is indexed or downloaded for it)."""
    from .core import open_knowledge

    exchanges, handoffs = read_exchanges(config.data_dir / "history.db", since)
    knowledge = None
    if any(e.outcome == "declined" for e in exchanges):
        knowledge = open_knowledge(config, config.make_detector(), download=False)
    try:
        models = knowledge.models if knowledge else None
        return build_report(exchanges, handoffs, models.embedder if models else None,
                            knowledge, since, show_users,
                            second=models.second if models else None)
    finally:
        if knowledge:
            knowledge.close()
