"""The faithful fallback: an article's own sentences, chosen for the question, to quote.

When the model's answer fails the check (bot/check.py), or when the configuration asks for
extracts only (`model.answer_mode: extract`), the customer gets the best passage's most relevant
sentences as they are written, with a one-line introduction in their language and the citation.
Nothing in a quote can be made up; at worst it says more than was asked.
"""

from __future__ import annotations

import re

import numpy as np

from .check import ECHO_AT, answer_sentences, echo, letters, sentence_vectors
from .embeddings import Embedder

#: a passage this short (in characters, without its heading) is quoted whole: a list of steps
#: cut in two would mislead more than it helps
WHOLE_CHARS = 500
#: a longer passage gives its most relevant sentences, up to about this many characters
QUOTE_CHARS = 400


def choose_sentences(question: str, text: str, heading: str,
                     embedder: Embedder | None) -> list[str]:
    """The lines and sentences of a passage to quote for `question`, in the article's order:
    all of them for a short passage, else the ones nearest the question in meaning (the first
    ones without embeddings). The heading and sentences that only repeat the question (an FAQ's
    own question) are left out."""
    lines = [line for line in text.split("\n") if not re.match(r"\s*#", line)]
    candidates = [s for s in answer_sentences("\n".join(lines))
                  if _fold(s) != _fold(heading) and echo(s, question) < ECHO_AT
                  and letters(s) > 0]
    if sum(len(s) for s in candidates) <= WHOLE_CHARS:
        return candidates
    order = list(range(len(candidates)))
    if embedder is not None and candidates:
        vectors = embedder.embed_queries([question, *candidates])
        similarity = vectors[1:] @ vectors[0]
        order = [int(i) for i in np.argsort(-similarity)]
    chosen, size = [], 0
    for i in order:
        if chosen and size + len(candidates[i]) > QUOTE_CHARS:
            continue
        chosen.append(i)
        size += len(candidates[i])
    return [candidates[i] for i in sorted(chosen)]


def nearest_passage(question: str, passages: list[str], embedder: Embedder | None) -> int:
    """Which of the passages (texts, best first) has the sentence nearest the question in
    meaning: the retrieval's first is often the one that mentions the question's words in
    passing ("descale reminders" for "how do I descale my kettle?")."""
    if embedder is None or len(passages) < 2:
        return 0
    asked = embedder.embed_queries([question])[0]
    best = [float((sentence_vectors(embedder, p) @ asked).max(initial=-1.0)) for p in passages]
    return int(np.argmax(best))


def as_quote(intro: str, sentences: list[str]) -> str:
    """The introduction, then the sentences as a Markdown quote, one line per line of the
    article (a list stays a list)."""
    body = "\n".join(f"> {s}" for s in sentences)
    return f"{intro}\n\n{body}"


def _fold(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().casefold()
