"""Fine-tuning data from the history: real pipeline (the stand-in engine answers), real SQLite,
each format checked against its schema and against what the trainers read."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jsonschema
import pytest
from helpers import message

from bot.core import open_core
from bot.cli import since_of
from bot.export import SCHEMAS, examples, export_training
from bot.pipeline import PASSAGES_HEADER
from bot.privacy import mask_personal


@pytest.fixture
async def answered(write_config, scripted):
    """A history: answers in three languages, a follow-up, a declined question, one answer
    thumbed down, one thumbed up, one conversation handed to a person, one canned reply."""
    config = write_config(model={"max_tokens": 400})
    core = open_core(config, engine=scripted, watch=False)
    pipeline = core.pipeline
    ids = {}
    for name, text, channel in [
            ("refund", "How do I get a refund? Mail me at jane.doe@example.com", "C1"),
            ("follow", "And how long does the refund take?", "C1"),
            ("es", "¿Cómo restablezco mi contraseña? Llámame al +34 612 34 56 78", "C2"),
            ("de", "Wie entkalke ich den Wasserkocher?", "C3"),
            ("down", "How long does shipping take?", "C4"),
            ("up", "How do I cancel Kettlebird Plus?", "C5"),
            ("handoff", "My kettle light blinks red", "C6"),
            ("declined", "What is the capital of Mongolia?", "C7"),
            ("thanks", "thanks!", "C8")]:
        answer = await pipeline.respond(message(text, channel=channel, author="U-secret"))
        ids[name] = answer
    assert all(ids[n].kind == "answer" for n in ("refund", "follow", "es", "de", "down", "up",
                                                  "handoff")), ids
    await pipeline.record_feedback(ids["down"].turn_id, "U2", -1)
    await pipeline.record_feedback(ids["up"].turn_id, "U2", 1)
    await pipeline.hand_off(message("", channel="C6"))
    yield core, ids
    core.close()


@pytest.mark.parametrize("fmt", ["mistral", "openai", "sharegpt"])
async def test_the_export_is_what_the_model_saw_and_validates(answered, tmp_path, fmt):
    core, ids = answered
    out = tmp_path / f"{fmt}.jsonl"
    report = export_training(core.history, out, fmt)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert report.written == len(lines) == 5  # refund, follow-up, es, de, up
    assert report.left_out == {"declined": 1, "not written by the model": 1, "handed off": 1,
                               "thumbed down": 1}
    for line in lines:
        jsonschema.validate(line, SCHEMAS[fmt])
    key, role, text = ("conversations", "from", "value") if fmt == "sharegpt" else \
        ("messages", "role", "content")
    first = lines[0][key]
    assert [m[role] for m in first] == (["system", "human", "gpt"] if fmt == "sharegpt"
                                        else ["system", "user", "assistant"])
    assert "customer-support assistant of Kettlebird" in first[0][text]
    assert first[1][text].startswith(PASSAGES_HEADER)  # the passages, as the model read them
    assert "[email]" in first[1][text] and "jane.doe" not in out.read_text()
    assert "[phone]" in lines[2][key][1][text] and "612 34" not in out.read_text()
    assert "U-secret" not in out.read_text()
    # The follow-up carries the first exchange before its own question.
    follow = lines[1][key]
    assert len(follow) == 5 and "refund" in follow[1][text].lower()
    assert not follow[1][text].startswith(PASSAGES_HEADER)  # earlier turns without passages
    assert follow[-1][text] == core.history.turn(ids["follow"].turn_id).text


async def test_only_thumbed_up_answers_and_since(answered, tmp_path):
    core, ids = answered
    report = export_training(core.history, tmp_path / "up.jsonl", "openai", min_feedback="up")
    assert report.written == 1 and report.left_out["no thumbs up"] == 4
    line = json.loads((tmp_path / "up.jsonl").read_text())
    assert line["messages"][-1]["content"] == core.history.turn(ids["up"].turn_id).text
    import time

    later = export_training(core.history, tmp_path / "none.jsonl", "openai",
                            since=time.time() + 60)
    assert later.written == 0 and (tmp_path / "none.jsonl").read_text() == ""


async def test_the_command_reports_what_it_wrote(answered, tmp_path):
    core, _ = answered
    out = tmp_path / "cli.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "export-training", str(out), "--format", "sharegpt"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "BABELDESK_CONFIG": str(core.config.origin)})
    assert result.returncode == 0, result.stderr
    assert "5 of 9 answers exported" in result.stdout
    assert "left out, thumbed down: 1" in result.stdout
    assert len(out.read_text().splitlines()) == 5


def test_personal_data_is_masked_and_order_numbers_stay():
    assert mask_personal("write to jane.doe+kb@example.co.uk") == "write to [email]"
    for phone in ("+49 30 1234567", "+1 (415) 555-0100", "030 1234 5678", "(415) 555-0100",
                  "+33 6 12 34 56 78", "+81-3-1234-5678", "06-12345678"):
        assert mask_personal(f"call {phone} today") == "call [phone] today", phone
    for kept in ("order 48213", "on 2026-12-05 at 10:30", "error 0x80070005", "version 0.9.0",
                 "Bestellung 48 213", "E-201", "2,4 GHz"):
        assert mask_personal(kept) == kept


async def test_a_long_example_loses_its_oldest_turns_never_its_question(answered):
    core, ids = answered
    follow = ids["follow"].turn_id
    whole = next(m for a, _, m in examples(core.history, 0.0, "", 10**6) if a["id"] == follow)
    assert [m["role"] for m in whole] == ["system", "user", "assistant", "user", "assistant"]
    for limit in range(sum(len(m["content"]) for m in (whole[0], *whole[-2:])),
                       sum(len(m["content"]) for m in whole), 97):
        answer, reason, messages = next(e for e in examples(core.history, 0.0, "", limit)
                                        if e[0]["id"] == follow)
        assert reason == "" and messages[0] == whole[0] and messages[-2:] == whole[-2:]
        roles = [m["role"] for m in messages[1:]]
        assert roles == ["user", "assistant"] * (len(roles) // 2), roles
    assert next(r for a, r, _ in examples(core.history, 0.0, "", 10) if a["id"] == follow) \
        == "over length"


def test_since_zero_means_everything_stored():
    import time

    assert since_of(None) == since_of("0") == 0.0
    assert abs(since_of("1h") - (time.time() - 3600)) < 5
