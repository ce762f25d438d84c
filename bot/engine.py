"""Text generation with a local GGUF model, and the queue that shares it between conversations.

One model serves every conversation. Generation runs on one worker thread, so the event loop
that the chat adapters live on never waits for it; conversations take turns (round robin), so
one busy channel cannot starve the others, and no request is ever dropped.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, Protocol

import numpy as np

from .errors import ModelError
from .markup import KNOWN_MARKUP, Markup
from .tools import (ANSWER, CALL_FORMATS, ToolCall, answer_tool, as_call, call_format, call_schema,
                    parse_call, plain_tools_prompt)

log = logging.getLogger(__name__)


class Engine(Protocol):
    """What the core needs from a model."""

    n_ctx: int

    def count_tokens(self, text: str) -> int: ...

    def generate(self, messages: list[dict], max_tokens: int, temperature: float,
                 stop: Callable[[], bool], conversation: str | None = None) -> Iterator[str]:
        """Yield the answer's text as it is produced; stop early when `stop()` is true.
        `conversation` lets the engine reuse what it has already read of that conversation."""

    def choose(self, messages: list[dict], tools: list[dict], max_tokens: int) -> ToolCall:
        """One call of one of `tools` (OpenAI format), or `answer`: the model's choice for
        the last message."""


@dataclass
class SavedState:
    """llama.cpp's state after reading `tokens`: the attention cache of one conversation."""

    tokens: np.ndarray
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data) + self.tokens.nbytes


class StateCache:
    """Saved states by key, least recently used out first, within a memory budget."""

    def __init__(self, capacity_bytes: int):
        self.capacity = capacity_bytes
        self._items: OrderedDict[tuple, SavedState] = OrderedDict()
        self.bytes = 0
        self.evictions = 0

    def get(self, key: tuple) -> SavedState | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: tuple, item: SavedState) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        if item.size > self.capacity:
            return
        self._items[key] = item
        self.bytes += item.size
        while self.bytes > self.capacity:
            _, evicted = self._items.popitem(last=False)
            self.bytes -= evicted.size
            self.evictions += 1


@dataclass
class GenerationStats:
    """What one generation cost: for the benchmarks and the logs."""

    prompt_tokens: int = 0
    #: tokens the prompt has that the conversation's previous prompt had not (the previous
    #: answer and the new message): what a cache that keeps only prompts must read
    new_tokens: int = 0
    #: prompt tokens read by the model this time; the rest came from a saved state
    evaluated: int = 0
    #: where the reused prefix came from: conversation, system, none
    reused_from: str = "none"
    generated: int = 0
    first_token_seconds: float = 0.0


#: llama.cpp's numbers depend a little on how a prompt is cut into batches (its matrix kernels
#: work on groups of rows from each batch's start). Reusing states only up to a multiple of
#: this, and never the model's own answer tokens (computed one at a time), keeps every prompt
#: token in the same group as when the whole prompt is read at once: the same answers, cache
#: or no cache.
ALIGN = 32

#: llama-cpp-python versions babeldesk is tested with: the state cache reads its internals
#: (`_ctx`, `_requires_eval`, `kv_cache_seq_rm`), which any release may change.
TESTED_LLAMA_CPP = ("0.3.36",)


def _relay(stream, text_of: Callable, stop: Callable[[], bool]) -> Iterator[str | None]:
    """Each chunk's text (None when it has none) until the stream ends or `stop()`; the
    stream is closed either way."""
    try:
        for chunk in stream:
            yield text_of(chunk)
            if stop():
                break
    finally:
        stream.close()


def common_prefix(a, b) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.nonzero(np.asarray(a[:n]) != np.asarray(b[:n]))[0]
    return int(diff[0]) if len(diff) else n


def image_parts(messages: list[dict], keep: bool) -> list[dict]:
    """Messages as the OpenAI API takes them: a message's images (data URLs, in its
    "images" key) become image_url content parts after its text; dropped when the model
    reads none."""
    out = []
    for message in messages:
        images = message.get("images") if keep else None
        message = {k: v for k, v in message.items() if k != "images"}
        if images:
            message["content"] = [{"type": "text", "text": message["content"]},
                                  *({"type": "image_url", "image_url": {"url": url}}
                                    for url in images)]
        out.append(message)
    return out


_DATA_URL = re.compile(r"data:image/[a-z.+-]+;base64,[A-Za-z0-9+/=]+")


def _vision_base():
    from llama_cpp.llama_chat_format import Llava15ChatHandler

    return Llava15ChatHandler


class VisionHandler:
    """llama-cpp-python's multimodal chat handler (libmtmd: Mistral Small 3.1, Gemma 3,
    Qwen2.5-VL, …) with the GGUF's own chat template.

    llama-cpp-python's handler renders its template, then puts llama.cpp's media marker where
    each image's URL appears in the text. Any GGUF template renders a string content, so each
    image's data URL is written into its message's text, where the marker replaces it.
    """

    def __new__(cls, mmproj: Path, template: str):
        base = _vision_base()

        class Handler(base):
            CHAT_FORMAT = template or base.CHAT_FORMAT
            DEFAULT_SYSTEM_MESSAGE = None

            @staticmethod
            def get_image_urls(messages):
                return [url for m in messages if m.get("role") == "user"
                        and isinstance(m.get("content"), str)
                        for url in _DATA_URL.findall(m["content"])]

            @staticmethod
            def flatten(messages: list[dict]) -> list[dict]:
                return [{**{k: v for k, v in m.items() if k != "images"},
                         "content": "\n".join([*m["images"], m["content"]])}
                        if m.get("images") else m for m in messages]

        if not Path(mmproj).is_file():
            raise ModelError(f"model.mmproj: no such file: {mmproj}")
        return Handler(clip_model_path=str(mmproj), verbose=False)


class LlamaEngine:
    """A GGUF model through llama-cpp-python, with the chat template stored in the file.

    With a state cache, the model's state after each answer is kept per conversation (and
    once for each system prompt), so a follow-up in any of many interleaved conversations
    reads only its new tokens. A conversation's state is only ever loaded for that same
    conversation.
    """

    def __init__(self, path: Path, n_ctx: int = 4096, threads: int = 0, gpu_layers: int = 0,
                 chat_format: str | None = None, cache_mb: int = 0, flash_attn: bool = True,
                 mmproj: Path | None = None, lora_path: Path | None = None,
                 lora_scale: float = 1.0):
        try:
            import llama_cpp
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelError(f"llama-cpp-python is not installed or does not load: {exc}") from exc
        self._llama_cpp = llama_cpp
        version = getattr(llama_cpp, "__version__", "?")
        if version not in TESTED_LLAMA_CPP:
            log.warning("llama-cpp-python %s is not a version babeldesk is tested with (%s): "
                        "reinstall babeldesk to get it", version, ", ".join(TESTED_LLAMA_CPP))
        self.path = Path(path)
        self.n_ctx = n_ctx
        try:
            self.llm = Llama(model_path=str(self.path), n_ctx=n_ctx,
                             n_threads=threads or max(1, os.cpu_count() or 1),
                             n_gpu_layers=gpu_layers, chat_format=chat_format or None,
                             flash_attn=flash_attn, verbose=False,
                             lora_path=str(lora_path) if lora_path else None,
                             lora_scale=lora_scale)
        except (ValueError, RuntimeError, OSError) as exc:
            if lora_path and "LoRA" in str(exc):
                raise ModelError(f"cannot apply the LoRA adapter {lora_path} to {self.path}: "
                                 "is it a GGUF adapter made for this model? (llama.cpp's "
                                 "convert_lora_to_gguf.py makes one from a PEFT adapter)"
                                 ) from exc
            raise ModelError(f"cannot load the model {self.path}: {exc}") from exc
        if lora_path and not self.llm._lora_adapter:
            # llama.cpp refused it (logged on stderr) and llama-cpp-python 0.3.36 carries on
            # with a NULL adapter, which is not None: the model would run without it.
            raise ModelError(f"cannot apply the LoRA adapter {lora_path} to {self.path}: "
                             "llama.cpp refused it (made for another model or "
                             "architecture?); make it with llama.cpp's "
                             "convert_lora_to_gguf.py from a PEFT adapter trained on this "
                             "base model")
        #: the LoRA adapter applied, for `babeldesk check` and the logs
        self.lora = (Path(lora_path), lora_scale) if lora_path else None
        self.name = self.llm.metadata.get("general.name", self.path.stem)
        #: this model's control tokens, as typed text, defused in every message
        self.markup = Markup([*self._control_tokens(), *KNOWN_MARKUP])
        self._tokenizer_lock = threading.Lock()
        # Formatting the prompt here, with the GGUF's own template exactly as llama-cpp-python
        # does, gives the prompt's tokens before generation: needed to pick a saved state.
        self._formatters = None
        template = self.llm.metadata.get("tokenizer.chat_template")
        #: the GGUF's chat template: how it shows tools and calls (bot/tools.py)
        self.template = template or ""
        #: grammars of tool calls by their JSON Schema: building one takes a while
        self._grammars: dict[str, Any] = {}
        if template and not chat_format:
            eos_id, bos_id = self.llm.token_eos(), self.llm.token_bos()
            model = self.llm._model
            words = {"eos_token": model.token_get_text(eos_id) if eos_id != -1 else "",
                     "bos_token": model.token_get_text(bos_id) if bos_id != -1 else ""}
            self._formatters = (
                Jinja2ChatFormatter(template=template, stop_token_ids=[eos_id], **words),
                Jinja2ChatFormatter(template=template, add_generation_prompt=False, **words))
        self.cache = StateCache(cache_mb * 1024 * 1024) if cache_mb > 0 else None
        #: llama.cpp's multimodal path (libmtmd) for a GGUF with its image projector
        self._vision = VisionHandler(mmproj, template or "") if mmproj else None
        self.reads_images = self._vision is not None
        #: whose state the model's context holds now: ("conversation", id) or ("system", …)
        self._live: tuple | None = None
        self.last = GenerationStats()
        #: each conversation's last prompt, for the statistics
        self._prompts: OrderedDict[str, np.ndarray] = OrderedDict()

    def _control_tokens(self) -> list[str]:
        """The texts of the vocabulary's control and added tokens (`<|im_start|>`, …)."""
        llama_cpp = self._llama_cpp
        vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
        return [llama_cpp.llama_vocab_get_text(vocab, token).decode("utf-8", "replace")
                for token in range(llama_cpp.llama_vocab_n_tokens(vocab))
                if llama_cpp.llama_vocab_get_attr(vocab, token) & special]

    def count_tokens(self, text: str) -> int:
        with self._tokenizer_lock:
            return len(self.llm.tokenize(text.encode("utf-8", errors="replace"),
                                         add_bos=False, special=False))

    def prompt_tokens(self, messages: list[dict]) -> list[int]:
        """The tokens the model reads for `messages`: the template's markup as control
        tokens, the messages' own text never (see bot/markup.py)."""
        return self._format(messages)[1]

    def _format(self, messages: list[dict]):
        """The formatted prompt (with its stop words) and its tokens."""
        formatted = self._formatters[0](messages=self.markup.messages(messages))
        return formatted, self._tokens(formatted.prompt)

    def _tokens(self, text: str) -> list[int]:
        with self._tokenizer_lock:
            return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    def generate(self, messages: list[dict], max_tokens: int, temperature: float,
                 stop: Callable[[], bool], conversation: str | None = None) -> Iterator[str]:
        if self._vision is not None and any(m.get("images") for m in messages):
            yield from self._generate_with_images(messages, max_tokens, temperature, stop)
            return
        messages = image_parts(messages, False)
        if self._formatters is None:
            yield from self._generate_with_handler(self.markup.messages(messages), max_tokens,
                                                   temperature, stop)
            return
        formatted, tokens = self._format(messages)
        previous = self._prompts.pop(conversation, None) if conversation else None
        stats = GenerationStats(prompt_tokens=len(tokens), new_tokens=len(tokens) - (
            common_prefix(previous, tokens) if previous is not None else 0))
        if conversation:
            self._prompts[conversation] = np.asarray(tokens, dtype=np.intc)
            while len(self._prompts) > 1000:
                self._prompts.popitem(last=False)
        primed = 0
        if self.cache is not None and conversation is not None:
            stats.reused_from, primed = self._restore(("conversation", conversation), messages,
                                                      tokens)
        else:
            self.llm.reset()
            self._live = None
        # What llama-cpp-python will read again: all after the common prefix, and at least
        # the last token (its logits start the answer).
        held = self.llm.input_ids[:self.llm.n_tokens]
        stats.evaluated = primed + len(tokens) - min(common_prefix(held, tokens),
                                                     len(tokens) - 1)
        started = time.monotonic()
        stream = self.llm.create_completion(
            tokens, max_tokens=max_tokens, temperature=temperature, stream=True,
            stop=formatted.stop, stopping_criteria=formatted.stopping_criteria)
        relay = _relay(stream, lambda chunk: chunk["choices"][0]["text"], stop)
        try:
            for text in relay:
                if not stats.generated:
                    stats.first_token_seconds = time.monotonic() - started
                stats.generated += 1
                if text:
                    yield text
        finally:
            relay.close()  # the model's stream ends before its state is saved
            self.last = stats
            if self.cache is not None and conversation is not None:
                # The state ends with the prompt: the answer's tokens are read again, in a
                # batch, as part of the next prompt (see ALIGN).
                self._truncate(len(tokens))
                self._save(("conversation", conversation))

    def choose(self, messages: list[dict], tools: list[dict], max_tokens: int) -> ToolCall:
        from llama_cpp import LlamaGrammar

        offered = [answer_tool(), *tools]
        names = [tool["function"]["name"] for tool in offered]
        schema = json.dumps(call_schema(offered), sort_keys=True)
        grammar = self._grammars.get(schema)
        if grammar is None:
            grammar = LlamaGrammar.from_json_schema(schema, verbose=False)
            if not self._parses(grammar):
                # A grammar llama.cpp cannot parse would crash the sampler: without the
                # patterns it is plainer, and the arguments are checked against them after.
                log.warning("the actions' patterns make a grammar llama.cpp cannot read; "
                            "the model's arguments are checked against them afterwards")
                grammar = LlamaGrammar.from_json_schema(
                    json.dumps(call_schema(offered, patterns=False), sort_keys=True),
                    verbose=False)
                if not self._parses(grammar):
                    raise ModelError("the actions' parameters make a grammar llama.cpp "
                                     "cannot read")
            self._grammars[schema] = grammar
        messages = self.markup.messages(messages)
        form = call_format(self.template) if self._formatters else "plain"
        if form == "plain":
            messages = [{"role": "system", "content": messages[0]["content"] +
                         plain_tools_prompt(offered)}, *messages[1:]]
            formatted = self._formatters[0](messages=messages) if self._formatters else None
        else:
            formatted = self._formatters[0](messages=messages, tools=offered)
        opening = CALL_FORMATS[form][0]
        if formatted is None:  # a chat_format named in the config: llama-cpp-python formats
            self.llm.reset()
            self._live = None
            result = self.llm.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=0.0, grammar=grammar)
            text = result["choices"][0]["message"].get("content") or ""
        else:
            tokens = self._tokens(formatted.prompt + opening)
            key = ("choice", hashlib.sha256(schema.encode()).hexdigest())
            if self.cache is not None:
                # Every conversation's choice starts with the same system prompt and tools:
                # that much is read once.
                self._restore(key, messages, tokens)
            else:
                self.llm.reset()
                self._live = None
            result = self.llm.create_completion(tokens, max_tokens=max_tokens, temperature=0.0,
                                                grammar=grammar, stop=formatted.stop)
            text = result["choices"][0]["text"]
            if self.cache is not None:
                self._truncate(len(tokens))
                self._save(key)
        call = parse_call(text, names)
        if call is None:
            raise ModelError(f"the model's tool call could not be read: {text[:200]!r}")
        return call

    def _parses(self, grammar) -> bool:
        """Whether llama.cpp reads the grammar (a sampler made from one it cannot read is
        NULL, and sampling with it crashes)."""
        llama_cpp = self._llama_cpp
        vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar._grammar.encode(),
                                                       grammar._root.encode())
        if not sampler:
            return False
        llama_cpp.llama_sampler_free(sampler)
        return True

    def _generate_with_images(self, messages, max_tokens, temperature, stop):
        # The images are read by the projector at every turn: nothing is cached.
        self.llm.reset()
        self._live = None
        stream = self._vision(llama=self.llm, messages=self._vision.flatten(
            self.markup.messages(messages)), max_tokens=max_tokens, temperature=temperature,
            stream=True)
        yield from (text for text in _relay(
            stream, lambda chunk: chunk["choices"][0]["delta"].get("content"), stop) if text)

    def _generate_with_handler(self, messages, max_tokens, temperature, stop):
        # A chat_format named in the config: llama-cpp-python formats, nothing is cached.
        self.llm.reset()
        self._live = None
        stream = self.llm.create_chat_completion(messages=messages, max_tokens=max_tokens,
                                                 temperature=temperature, stream=True)
        yield from (text for text in _relay(
            stream, lambda chunk: chunk["choices"][0]["delta"].get("content"), stop) if text)

    # -- the state cache --

    def _restore(self, key: tuple, messages: list[dict], tokens: list[int]
                 ) -> tuple[str, int]:
        """Put the longest usable saved prefix of `tokens` into the model's context; returns
        where it came from and how many tokens were read to make a new system state."""
        system_key = ("system", messages[0]["content"]) if messages[0]["role"] == "system" \
            else None
        # (shared tokens, whose state, the saved state or None for the one in the context)
        options: list[tuple[int, tuple, SavedState | None]] = []
        if self._live in (key, system_key):
            held = self.llm.input_ids[:self.llm.n_tokens]
            options.append((common_prefix(held, tokens), self._live, None))
        for candidate in (key, system_key):
            saved = self.cache.get(candidate) if candidate else None
            if saved is not None:
                options.append((common_prefix(saved.tokens, tokens), candidate, saved))
        best = max(options, key=lambda o: o[0], default=None)
        if best is None or best[0] == 0:
            # Another conversation's state never serves this one: start from nothing, and
            # keep the system prompt's state for every conversation that starts with it.
            self.llm.reset()
            self._live = None
            primed = self._prime_system(system_key, messages[0], tokens) if system_key else 0
            return "none", primed
        length, owner, saved = best
        if saved is not None:
            self._load(saved)
        self._live = owner
        self._truncate(length // ALIGN * ALIGN)
        return owner[0], 0

    def _prime_system(self, system_key: tuple, system: dict, tokens: list[int]) -> int:
        prefix = self._tokens(self._formatters[1](messages=[system]).prompt)
        if len(prefix) >= len(tokens) or tokens[:len(prefix)] != prefix:
            return 0  # the template renders the system prompt differently in context
        prefix = prefix[:len(prefix) // ALIGN * ALIGN]
        if not prefix:
            return 0
        self.llm.eval(prefix)
        self._save(system_key)
        return len(prefix)

    def _save(self, key: tuple) -> None:
        llama_cpp, ctx = self._llama_cpp, self.llm._ctx.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(ctx, buffer, size)
        tokens = self.llm.input_ids[:self.llm.n_tokens].copy()
        self.cache.put(key, SavedState(tokens, ctypes.string_at(buffer, written)))
        self._live = key

    def _truncate(self, n: int) -> None:
        """Keep only the first `n` tokens of the model's context."""
        if n < self.llm.n_tokens:
            self.llm._ctx.kv_cache_seq_rm(-1, n, -1)
            self.llm.n_tokens = n
            self.llm._requires_eval = True

    def _load(self, saved: SavedState) -> None:
        llama_cpp, ctx = self._llama_cpp, self.llm._ctx.ctx
        buffer = (ctypes.c_uint8 * len(saved.data)).from_buffer_copy(saved.data)
        if llama_cpp.llama_state_set_data(ctx, buffer, len(saved.data)) != len(saved.data):
            raise ModelError("restoring a saved model state failed")
        n = len(saved.tokens)
        self.llm.input_ids[:n] = saved.tokens
        self.llm.n_tokens = n
        self.llm._requires_eval = True


class OpenAIEngine:
    """A model behind an OpenAI-compatible chat completions API: vLLM, llama.cpp's server,
    Ollama, or a hosted API such as Mistral's. For when the load outgrows one machine."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 n_ctx: int = 32768, timeout: float = 60.0, retries: int = 2,
                 vision: bool = False):
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelError(f"the openai package is not installed: {exc}") from exc
        self._openai = openai
        self.n_ctx = n_ctx
        self.name = model
        #: the server's vocabulary is unknown: the common templates' markup is defused
        self.markup = Markup()
        self.base_url = base_url
        #: the server's model reads images (Mistral Small 3.1, a vLLM vision model)
        self.reads_images = vision
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
                 stop: Callable[[], bool], conversation: str | None = None) -> Iterator[str]:
        # The server keeps its own prefix cache (vLLM, llama-server): nothing to do here.
        try:
            stream = self.client.chat.completions.create(
                model=self.name, messages=image_parts(self.markup.messages(messages),
                                                      self.reads_images),
                max_tokens=max_tokens, temperature=temperature, stream=True)
        except self._openai.APIStatusError as exc:
            raise ModelError(f"the model server answered {exc.status_code}: {exc.message}"
                             ) from None
        except self._openai.APIError as exc:
            raise ModelError(f"the model server at {self.base_url} failed: {exc}") from None
        try:
            yield from (text for text in _relay(
                stream, lambda chunk: chunk.choices[0].delta.content if chunk.choices else None,
                stop) if text)
        except self._openai.APIError as exc:
            raise ModelError(f"the model server at {self.base_url} broke off: {exc}") from None


    def choose(self, messages: list[dict], tools: list[dict], max_tokens: int) -> ToolCall:
        names = [tool["function"]["name"] for tool in tools]
        try:
            result = self.client.chat.completions.create(
                model=self.name, messages=self.markup.messages(messages), tools=tools,
                tool_choice="auto", max_tokens=max_tokens, temperature=0.0)
        except self._openai.APIStatusError as exc:
            raise ModelError(f"the model server answered {exc.status_code}: {exc.message}"
                             ) from None
        except self._openai.APIError as exc:
            raise ModelError(f"the model server at {self.base_url} failed: {exc}") from None
        if not result.choices:
            raise ModelError("the model server answered without a choice")
        message = result.choices[0].message
        for tool_call in message.tool_calls or []:
            call = as_call(tool_call.model_dump(), names)
            if call is not None:
                return call
        # A server without a tool parser passes the model's own call on as text: Mistral's
        # [TOOL_CALLS][…], Hermes' <tool_call>…, or the bare {"name": …, "arguments": …}
        # that small models write (llama.cpp's server with the GGUF's template); anything
        # else is an answer.
        content = (message.content or "").strip()
        if content.startswith(("[TOOL_CALLS]", "<tool_call>", '{"name"')):
            call = parse_call(content, names)
            if call is not None:
                return call
        return ToolCall(ANSWER)


@dataclass(eq=False)
class _Job:
    conversation: str
    messages: list[dict]
    max_tokens: int
    temperature: float
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue
    #: not a generation: a function of the engine, run on the worker (a tool choice)
    work: Callable[[Any], Any] | None = None
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
        self._running: set[_Job] = set()
        self._workers = [threading.Thread(target=self._run, name=f"babeldesk-model-{i}",
                                          daemon=True) for i in range(workers)]
        for worker in self._workers:
            worker.start()

    @property
    def pending(self) -> int:
        """Generations waiting or running."""
        with self._cond:
            return sum(len(q) for q in self._queues.values()) + len(self._running)

    @property
    def waiting(self) -> int:
        """Generations waiting for their turn."""
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    async def stream(self, conversation: str, messages: list[dict], max_tokens: int,
                     temperature: float) -> AsyncIterator[str]:
        """The model's answer, chunk by chunk, once this conversation's turn comes."""
        job = self._enqueue(_Job(conversation, messages, max_tokens, temperature,
                                 asyncio.get_running_loop(), asyncio.Queue()))
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

    async def run(self, conversation: str, work: Callable[[Any], Any]) -> Any:
        """`work(engine)`'s result, run on the worker when this conversation's turn comes (a
        tool choice takes its turn like an answer)."""
        job = self._enqueue(_Job(conversation, [], 0, 0.0, asyncio.get_running_loop(),
                                 asyncio.Queue(), work=work))
        try:
            item = await job.out.get()
            if isinstance(item, BaseException):
                raise item
            if item is _DONE:  # cut short: babeldesk is stopping
                raise ModelError("babeldesk is stopping")
            return item
        finally:
            job.cancelled.set()

    def _enqueue(self, job: _Job) -> _Job:
        with self._cond:
            if self._closed:
                raise ModelError("babeldesk is shutting down")
            self._queues.setdefault(job.conversation, deque()).append(job)
            self._cond.notify()
        return job

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
                    self._running.discard(job)

    def _generate(self, job: _Job) -> None:
        def send(item: object) -> None:
            try:
                job.loop.call_soon_threadsafe(job.out.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                job.cancelled.set()

        try:
            if job.work is not None:
                send(job.work(self.engine))
                return
            for text in self.engine.generate(job.messages, job.max_tokens, job.temperature,
                                             job.cancelled.is_set, job.conversation):
                send(text)
            send(_DONE)
        except Exception as exc:
            log.exception("%s failed for %s", "a tool choice" if job.work else "generation",
                          job.conversation)
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
