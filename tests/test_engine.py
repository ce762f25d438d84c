"""The model queue: fair between conversations, nothing dropped, errors reported."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.engine import ModelQueue
from bot.errors import ModelError


class RecordingEngine:
    """A stand-in model that records the order in which it was asked (unit tests only)."""

    n_ctx = 2048

    def __init__(self, fail_on: str | None = None):
        self.order: list[str] = []
        self.gate = threading.Event()
        self.fail_on = fail_on

    def count_tokens(self, text):
        return len(text.split())

    def generate(self, messages, max_tokens, temperature, stop, conversation=None):
        self.gate.wait(60)  # a deadline: the test opens the gate once its jobs are queued
        name = messages[-1]["content"]
        self.order.append(name)
        if name == self.fail_on:
            raise RuntimeError("the GPU fell off")
        for word in name.split("-"):
            if stop():
                return
            yield word + " "


async def collect(queue, conversation, name):
    return "".join([c async for c in queue.stream(conversation, [{"role": "user",
                                                                  "content": name}], 10, 0)])


async def test_conversations_take_turns_and_none_is_dropped():
    engine = RecordingEngine()
    queue = ModelQueue(engine)
    jobs = [("A", "a-1"), ("A", "a-2"), ("A", "a-3"), ("B", "b-1"), ("C", "c-1"), ("B", "b-2")]
    tasks = []
    for conversation, name in jobs:
        tasks.append(asyncio.create_task(collect(queue, conversation, name)))
        # They arrive in this order, each queued before the next, the first one running by
        # the time the second comes.
        while queue.pending < len(tasks) or (len(tasks) == 1 and queue.waiting):
            await asyncio.sleep(0.001)
    engine.gate.set()
    results = await asyncio.gather(*tasks)
    queue.close()
    assert results == [name.replace("-", " ") + " " for _, name in jobs]
    # A's first job was already running; then every conversation gets a turn before A again.
    assert engine.order == ["a-1", "a-2", "b-1", "c-1", "a-3", "b-2"]
    assert queue.pending == 0


async def test_a_failing_generation_raises_model_error_and_the_queue_goes_on():
    engine = RecordingEngine(fail_on="bad")
    engine.gate.set()
    queue = ModelQueue(engine)
    with pytest.raises(ModelError, match="GPU fell off"):
        await collect(queue, "A", "bad")
    assert await collect(queue, "A", "good-one") == "good one "
    queue.close()


async def test_a_closed_queue_refuses_new_work():
    queue = ModelQueue(RecordingEngine())
    queue.close()
    with pytest.raises(ModelError, match="shutting down"):
        await collect(queue, "A", "late")
