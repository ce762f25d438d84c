"""The terminal adapter, driven through its input and output streams."""

from __future__ import annotations

import io

import pytest

from adapters.terminal import TerminalAdapter

pytestmark = pytest.mark.model


async def test_a_terminal_conversation_streams_answers_with_language_and_sources(core):
    stdin = io.BytesIO("¿Cómo puedo restablecer mi contraseña?\n"
                       "\n"
                       "What is the capital of Mongolia?\n"
                       "/new\n"
                       "bad \xff input?\n".encode("utf-8", errors="surrogateescape")
                       .replace(b"\xc3\xbf", b"\xff"))
    stdout = io.StringIO()
    adapter = TerminalAdapter(core.pipeline, conversation="t1", stdin=stdin, stdout=stdout,
                              author="tester")
    await adapter.run()
    out = stdout.getvalue()
    assert "[es] Fuentes: es/cuenta.md › Restablecer la contraseña" in out
    assert core.pipeline.texts.get("empty", "es") in out
    assert core.pipeline.texts.get("no_answer", "en") in out
    assert "(new conversation" in out
    assert out.count("bot> ") == 4
    assert core.history.count(adapter.message("").key) == 2  # the new conversation's exchange
