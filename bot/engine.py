"""Text generation with a local GGUF model, and the queue that shares it between conversations.

One model serves every conversation. Generation runs on one worker thread, so the event loop
that the chat adapters live on never waits for it; conversations take turns (round robin), so
one busy channel cannot starve the others, and no request is ever dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Callable, Iterator, Protocol

from .errors import ModelError

log = logging.getLogger(__name__)


class Engine(Protocol):
    """What the core needs from a model."""

    n_ctx: int

    def count_tokens(self, text: str) -> int: ...

    def generate(self, messages: list[dict], max_tokens: int, temperature: float,
                 stop: Callable[[], bool]) -> Iterator[str]:
        """Yield the answer's text as it is produced; stop early when `stop()` is true."""


class LlamaEngine:
    """A GGUF model through llama-cpp-python, with the chat template stored in the file."""

    def __init__(self, path: Path, n_ctx: int = 4096, threads: int = 0, gpu_layers: int = 0,
                 chat_format: str | None = None):
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelError(f"llama-cpp-python is not installed or does not load: {exc}") from exc
        self.path = Path(path)
        self.n_ctx = n_ctx
        try:
            self.llm = Llama(model_path=str(self.path), n_ctx=n_ctx,
                             n_threads=threads or max(1, os.cpu_count() or 1),
                             n_gpu_layers=gpu_layers, chat_format=chat_format or None,
                             verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"cannot load the model {self.path}: {exc}") from exc
        self.name = self.llm.metadata.get("general.name", self.path.stem)
        self._tokenizer_lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        with self._tokenizer_lock:
            return len(self.llm.tokenize(text.encode("utf-8", errors="replace"),
                                         add_bos=False, special=False))

    def generate(self, messages: list[dict], max_tokens: int, temperature: float,
                 stop: Callable[[], bool]) -> Iterator[str]:
        stream = self.llm.create_chat_completion(messages=messages, max_tokens=max_tokens,
                                                 temperature=temperature, stream=True)
        try:
            for chunk in stream:
                text = chunk["choices"][0]["delta"].get("content")
                if text:
                    yield text
                if stop():
                    break
        finally:
            stream.close()


class OpenAIEngine:
    """A model behind an OpenAI-compatible chat completions API: vLLM, llama.cpp's server,
    Ollama, or a hosted API such as Mistral's. For when the load outgrows one machine."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 n_ctx: int = 32768, timeout: float = 60.0, retries: int = 2):
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelError(f"the openai package is not installed: {exc}") from exc
        self._openai = openai
        self.n_ctx = n_ctx
        self.name = model
        self.base_url = base_url
        # The client retries connection errors, timeouts, 429 and 5xx with backoff, and
        # honours Retry-After.
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or "none",
                                    timeout=openai.Timeout(timeout, connect=min(timeout, 10.0)),
                                    max_retries=retries)

    def count_tokens(self, text: str) -> int:
        # The server's tokenizer is not reachable through this API. Three UTF-8 bytes per
        # token over-counts English (about four) and matches CJK, so prompts never overflow.
        return -(-len(text.encode("utf-8", errors="replace")) // 3)

    def check(self) -> None:
        """Fail with one clear line when the server is unreachable or lacks the model."""
        try:
            models = [m.id for m in self.client.models.list()]
        except self._openai.APIStatusError as exc:
            raise ModelError(f"the model server at {self.base_url} answered "
                             f"{exc.status_code}: {exc.message}") from None
        except self._openai.APIError as exc:
            raise ModelError(f"cannot reach the model server at {self.base_url}: {exc}"
                             ) from None
        if models and self.name not in models:
            log.warning("the model server at %s lists %s, not %s", self.base_url,
                        ", ".join(models[:5]), self.name)

    def generate(self, messages: list[dict], max_tokens: int, temperature: float,
                 stop: Callable[[], bool]) -> Iterator[str]:
        try:
            stream = self.client.chat.completions.create(
                model=self.name, messages=messages, max_tokens=max_tokens,
                temperature=temperature, stream=True)
        except self._openai.APIStatusError as exc:
            raise ModelError(f"the model server answered {exc.status_code}: {exc.message}"
                             ) from None
        except self._openai.APIError as exc:
            raise ModelError(f"the model server at {self.base_url} failed: {exc}") from None
        try:
            for chunk in stream:
                if chunk.choices:
                    text = chunk.choices[0].delta.content
                    if text:
                        yield text
                if stop():
                    break
        except self._openai.APIError as exc:
            raise ModelError(f"the model server at {self.base_url} broke off: {exc}") from None
        finally:
            stream.close()


@dataclass(eq=False)
class _Job:
    conversation: str
    messages: list[dict]
    max_tokens: int
    temperature: float
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue
    cancelled: threading.Event = field(default_factory=threading.Event)
    queued_at: float = field(default_factory=time.monotonic)


_DONE = object()


class ModelQueue:
    """Runs generations on worker threads (one for a local model), taking conversations in
    turn."""

    def __init__(self, engine: Engine, workers: int = 1):
        self.engine = engine
        self._queues: OrderedDict[str, deque[_Job]] = OrderedDict()
        self._cond = threading.Condition()
        self._closed = False
        self._busy = 0
        self._running: set[_Job] = set()
        self._workers = [threading.Thread(target=self._run, name=f"babeldesk-model-{i}",
                                          daemon=True) for i in range(workers)]
        for worker in self._workers:
            worker.start()

    @property
    def pending(self) -> int:
        """Generations waiting or running."""
        with self._cond:
            return sum(len(q) for q in self._queues.values()) + self._busy

    @property
    def waiting(self) -> int:
        """Generations waiting for their turn."""
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    async def stream(self, conversation: str, messages: list[dict], max_tokens: int,
                     temperature: float) -> AsyncIterator[str]:
        """The model's answer, chunk by chunk, once this conversation's turn comes."""
        job = _Job(conversation, messages, max_tokens, temperature,
                   asyncio.get_running_loop(), asyncio.Queue())
        with self._cond:
            if self._closed:
                raise ModelError("babeldesk is shutting down")
            self._queues.setdefault(conversation, deque()).append(job)
            self._cond.notify()
        try:
            while True:
                item = await job.out.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.cancelled.set()

    def _next(self) -> _Job | None:
        with self._cond:
            while not self._closed and not self._queues:
                self._cond.wait()
            if self._closed and not self._queues:
                return None
            conversation, jobs = self._queues.popitem(last=False)
            job = jobs.popleft()
            if jobs:  # the conversation's next message waits for every other conversation
                self._queues[conversation] = jobs
            self._busy += 1
            self._running.add(job)
            return job

    def _run(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            try:
                if not job.cancelled.is_set():
                    self._generate(job)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._running.discard(job)

    def _generate(self, job: _Job) -> None:
        def send(item: object) -> None:
            try:
                job.loop.call_soon_threadsafe(job.out.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                job.cancelled.set()

        try:
            for text in self.engine.generate(job.messages, job.max_tokens, job.temperature,
                                             job.cancelled.is_set):
                send(text)
            send(_DONE)
        except Exception as exc:
            log.exception("generation failed for %s", job.conversation)
            send(exc if isinstance(exc, ModelError) else ModelError(f"generation failed: {exc}"))

    def cut(self) -> None:
        """End every answer now: waiting ones get no text, running ones stop at the next
        token. For a shutdown that cannot wait any longer."""
        with self._cond:
            jobs = [job for queue in self._queues.values() for job in queue]
            self._queues.clear()
            running = list(self._running)
        for job in running:
            job.cancelled.set()
        for job in jobs:
            job.cancelled.set()
            try:
                job.loop.call_soon_threadsafe(job.out.put_nowait, _DONE)
            except RuntimeError:
                pass

    def close(self, timeout: float = 30.0) -> None:
        """Finish the queued work, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
