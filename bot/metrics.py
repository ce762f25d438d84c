"""What `babeldesk run` reports on /metrics, in Prometheus' text format.

Each core has its own registry, so several cores in one process (tests, benchmarks) never mix
their figures.
"""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter("babeldesk_messages", "Messages received by the core",
                                ["platform"], registry=r)
        self.answers = Counter("babeldesk_answers", "Replies given, by kind (answer, "
                               "abstained, withheld, empty, refused, error, handed_off, "
                               "interrupted)",
                               ["platform", "kind"], registry=r)
        self.abstentions = Counter("babeldesk_abstentions",
                                   "Questions the knowledge did not answer", ["language"],
                                   registry=r)
        self.language_retries = Counter(
            "babeldesk_language_retries", "Answers written again because they began in another "
            "language than the user's", ["language"], registry=r)
        self.checks_failed = Counter(
            "babeldesk_answer_checks_failed", "Answers that failed the answer check, by what "
            "was wrong (restated, unsupported, fact, language)", ["problem"], registry=r)
        self.errors = Counter("babeldesk_errors", "Messages that failed with an error",
                              registry=r)
        self.attachments = Counter(
            "babeldesk_attachments", "Files customers sent, by what they were (image, text) "
            "and what became of them (read, or the refusal: attachment_too_large, …)",
            ["kind", "outcome"], registry=r)
        self.ocr_seconds = Histogram(
            "babeldesk_ocr_seconds", "Reading one image: decoding, script detection, OCR",
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8), registry=r)
        self.first_token = Histogram(
            "babeldesk_time_to_first_token_seconds",
            "From a message's arrival to the first text of its answer passed on to the "
            "platform (queueing included; once per answer)",
            buckets=(0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60), registry=r)
        self.tokens = Counter("babeldesk_generated_tokens", "Pieces of text the model produced",
                              registry=r)
        self.generation_seconds = Counter("babeldesk_generation_seconds",
                                          "Time spent generating, first token to last",
                                          registry=r)
        self.tokens_per_second = Gauge("babeldesk_tokens_per_second",
                                       "Generation speed of the last answer", registry=r)
        self.queue = Gauge("babeldesk_queue_length", "Answers waiting for the model",
                           registry=r)
        self.in_progress = Gauge("babeldesk_answers_in_progress",
                                 "Messages being answered or waiting for their conversation's "
                                 "previous answer", registry=r)

    def watch_queue(self, length: Callable[[], float]) -> None:
        self.queue.set_function(length)

    def record_generation(self, tokens: int, seconds: float) -> None:
        self.tokens.inc(tokens)
        self.generation_seconds.inc(seconds)
        if seconds > 0 and tokens > 1:
            self.tokens_per_second.set(tokens / seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
