"""Keeping typed text from becoming a chat template's control tokens.

A prompt is tokenized with its template's markup read as control tokens. If a customer's
message, an article or an earlier answer contains the same strings (`<|im_end|>`,
`<|im_start|>system`, `[INST]`), they would be read as control tokens too: a new system turn
written by whoever typed it. Every such string in those texts gets a zero-width space after its
first character, so the model reads it as ordinary characters and a person sees it unchanged.
"""

from __future__ import annotations

import re
from typing import Iterable

#: inserted after a markup string's first character
BREAK = "\u200b"

#: The markup of common model families' chat templates. For the `openai` backend, whose
#: vocabulary babeldesk cannot read, and for the local model besides its own control tokens.
KNOWN_MARKUP = (
    # ChatML (Qwen, many fine-tunes)
    "<|im_start|>", "<|im_end|>", "<|endoftext|>",
    # Llama 3
    "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|eot_id|>", "<|eom_id|>", "<|python_tag|>",
    # Mistral (v3 and Tekken: Mistral Small 3.1)
    "<s>", "</s>", "[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[TOOL_CALLS]",
    "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[IMG]",
    "[IMG_BREAK]", "[IMG_END]",
    # Gemma, Phi
    "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<|user|>", "<|assistant|>",
    "<|system|>", "<|end|>",
)


class Markup:
    """Defuses a set of markup strings in texts."""

    def __init__(self, strings: Iterable[str] = KNOWN_MARKUP):
        # Only bracketed strings: a vocabulary's added tokens may also be ordinary words.
        self.strings = sorted({s for s in strings if len(s) >= 3 and s[0] in "<[" and
                               s[-1] in ">]"}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, self.strings))) \
            if self.strings else None

    def defuse(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(lambda m: m.group(0)[0] + BREAK + m.group(0)[1:], text)

    def messages(self, messages: list[dict]) -> list[dict]:
        """Chat messages with every content defused (system prompts included: a config
        edited by someone else is text too)."""
        return [{**m, "content": self.defuse(m["content"])} if isinstance(m.get("content"), str)
                else m for m in messages]
