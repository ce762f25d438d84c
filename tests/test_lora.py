"""LoRA adapters on top of the embedded model (model.lora_path): real llama.cpp, real GGUF
adapters written with the gguf package (the format llama.cpp's convert_lora_to_gguf.py
writes), with the base model's own tensor shapes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from bot.engine import LlamaEngine
from bot.errors import ConfigError, ModelError

pytestmark = pytest.mark.model

PROMPT = [{"role": "system", "content": "You are a helpful assistant."},
          {"role": "user", "content": "Name three colours."}]


def write_lora(base, path, strength: float, rank: int = 4, arch: str | None = None,
               dtype=np.float32) -> None:
    """A LoRA adapter for every attention query projection of `base`: A random, B random
    times `strength` (0: the adapter changes nothing)."""
    import gguf

    reader = gguf.GGUFReader(base)
    writer = gguf.GGUFWriter(str(path), arch or reader.fields["general.architecture"].contents())
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(rank))
    rng = np.random.default_rng(7)
    for tensor in reader.tensors:
        if not tensor.name.endswith("attn_q.weight"):
            continue
        n_in, n_out = (int(n) for n in tensor.shape[:2])  # GGUF order: ne0 = inputs
        # ne of A: [n_in, rank]; of B: [rank, n_out] (numpy shapes are the reverse)
        a = (rng.standard_normal((rank, n_in)) / np.sqrt(n_in)).astype(dtype)
        b = (rng.standard_normal((n_out, rank)) * strength).astype(dtype)
        name = tensor.name.removesuffix(".weight")
        writer.add_tensor(f"{name}.weight.lora_a", a)
        writer.add_tensor(f"{name}.weight.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def answer(engine: LlamaEngine) -> str:
    return "".join(engine.generate(PROMPT, 24, 0.0, lambda: False))


def test_a_lora_adapter_is_applied_on_top_of_the_model(model_path, engine, tmp_path):
    base = answer(engine)
    neutral, strong = tmp_path / "neutral.gguf", tmp_path / "strong.gguf"
    write_lora(model_path, neutral, 0.0)
    write_lora(model_path, strong, 2.0)
    with_neutral = LlamaEngine(model_path, n_ctx=1024, lora_path=neutral)
    assert with_neutral.lora == (neutral, 1.0)
    assert answer(with_neutral) == base  # B = 0: the same model
    del with_neutral
    with_strong = LlamaEngine(model_path, n_ctx=1024, lora_path=strong, lora_scale=1.0)
    changed = answer(with_strong)
    assert changed != base, changed
    del with_strong


def test_an_adapter_for_another_model_is_one_clear_error(model_path, tmp_path):
    wrong = tmp_path / "wrong.gguf"
    write_lora(model_path, wrong, 1.0, arch="llama")  # made for a Llama model
    with pytest.raises(ModelError, match="cannot apply the LoRA adapter .*wrong.gguf"):
        LlamaEngine(model_path, n_ctx=512, lora_path=wrong)


def test_lora_settings_are_checked_and_check_names_the_adapter(write_config, model_path,
                                                             tmp_path):
    with pytest.raises(ConfigError, match=r"model\.lora_path: no such file"):
        write_config(model={"source": "path", "path": str(model_path),
                            "lora_path": str(tmp_path / "missing.gguf")})
    adapter = tmp_path / "neutral.gguf"
    write_lora(model_path, adapter, 0.0)
    with pytest.raises(ConfigError, match=r"model\.lora_scale"):
        write_config(model={"source": "path", "path": str(model_path),
                            "lora_path": str(adapter), "lora_scale": 0})
    config = write_config(model={"source": "path", "path": str(model_path),
                                 "lora_path": str(adapter), "lora_scale": 0.5})
    result = subprocess.run([sys.executable, "-m", "bot.cli", "check"], capture_output=True,
                            text=True, timeout=600,
                            env={**os.environ, "BABELDESK_CONFIG": str(config.origin)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"lora       ok: {adapter} applied at scale 0.5" in result.stdout


def test_an_adapter_that_crashes_llama_cpp_is_named_not_a_crash(write_config, model_path,
                                                               tmp_path):
    """llama.cpp loads an adapter of float64 tensors and crashes on the first token: the
    check runs it in a child process first, so babeldesk names the adapter instead."""
    adapter = tmp_path / "float64.gguf"
    write_lora(model_path, adapter, 0.0, dtype=np.float64)
    config = write_config(model={"source": "path", "path": str(model_path),
                                 "lora_path": str(adapter)})
    result = subprocess.run([sys.executable, "-m", "bot.cli", "check"], capture_output=True,
                            text=True, timeout=600,
                            env={**os.environ, "BABELDESK_CONFIG": str(config.origin)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"model      FAIL: llama.cpp crashed (SIGSEGV) running "
            f"{model_path.name} with the LoRA adapter {adapter}") in result.stdout
