"""The model check before start-up: a llama.cpp build that crashes on this CPU is one line with
the command that fixes it, never a segfault; a good one is checked once and remembered."""

from __future__ import annotations

import importlib.metadata
import os
import random
import signal
import subprocess
import sys

import pytest

from bot.engine import TESTED_LLAMA_CPP
from bot.errors import ModelError
from bot.probe import BuildCrash, check_model_runs
from helpers import ROOT

#: A child that dies as a llama.cpp built for another CPU does: a real SIGSEGV.
SEGFAULT = [sys.executable, "-c", "import ctypes; ctypes.string_at(0)"]


@pytest.fixture
def crashing_llama(tmp_path):
    """PYTHONPATH for a llama_cpp whose import reads address 0, as a native build's first
    kernel does on a CPU that lacks its instructions: whoever imports it dies with SIGSEGV."""
    package = tmp_path / "crashing" / "llama_cpp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("import ctypes\nctypes.string_at(0)\n")
    return str(package.parent)


def babeldesk(config, *args, env=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(config.origin),
                           *args], capture_output=True, text=True, input=stdin,
                          env={**os.environ, **(env or {})}, timeout=600, cwd=ROOT)


def test_the_child_really_crashes():
    child = subprocess.run(SEGFAULT, capture_output=True)
    assert child.returncode == -signal.SIGSEGV


@pytest.mark.parametrize("command", [["ask", "hello"], ["check"], ["run"], ["chat"]])
def test_a_build_that_crashes_is_one_line_with_the_fix(write_config, model_path,
                                                       crashing_llama, command):
    config = write_config(model={"source": "path", "path": str(model_path)},
                          adapters={"slack": {"enabled": False},
                                    "discord": {"enabled": False}})
    result = babeldesk(config, *command, env={"PYTHONPATH": crashing_llama}, stdin="")
    assert result.returncode == 1, result.stdout + result.stderr
    text = result.stdout if command == ["check"] else result.stderr
    crash = [line for line in text.splitlines() if "crashed" in line]
    assert len(crash) == 1, text
    assert "llama.cpp crashed (SIGSEGV) running the model on this CPU" in crash[0]
    assert (f'rebuild it portably with: CMAKE_ARGS="-DGGML_NATIVE=OFF" {sys.executable} -m pip '
            f"install --force-reinstall --no-deps --no-cache-dir llama-cpp-python==") in crash[0]
    assert "Segmentation fault" not in result.stderr and "Traceback" not in result.stderr
    if command == ["check"]:
        assert crash[0].startswith("model      FAIL: ")
    else:
        assert crash[0].startswith("babeldesk: llama.cpp crashed")


@pytest.mark.model
def test_the_check_runs_once_per_model_build_and_settings(model_path, tmp_path):
    cache = tmp_path / "model-check.json"
    probe = check_model_runs(model_path, cache)
    assert probe.llama_cpp_version == importlib.metadata.version("llama-cpp-python")
    assert "AVX" in probe.system_info or "NEON" in probe.system_info, probe.system_info
    assert probe.quantisation == "Q4_K_M"
    assert probe.model_name  # the GGUF's own name, whatever its authors wrote
    # Remembered: the crashing command is never run for the same model, build and CPU ...
    assert check_model_runs(model_path, cache, command=SEGFAULT) == probe
    # ... but other settings (other kernels) are checked again.
    with pytest.raises(BuildCrash, match=r"crashed \(SIGSEGV\)"):
        check_model_runs(model_path, cache, threads=1, command=SEGFAULT)
    # A crash is not remembered: the next start checks again, and passes once rebuilt.
    assert check_model_runs(model_path, cache, threads=1).quantisation == "Q4_K_M"


def test_a_model_llama_cpp_refuses_is_a_model_error_not_a_crash(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + random.Random(7).randbytes(4096))
    with pytest.raises(ModelError, match=f"cannot load the model {broken}") as caught:
        check_model_runs(broken, tmp_path / "model-check.json")
    assert not isinstance(caught.value, BuildCrash)
    assert not (tmp_path / "model-check.json").exists()


def test_the_installed_llama_cpp_python_is_the_tested_one():
    """The state cache reads llama-cpp-python's internals: CI fails here, with the versions,
    when another one is installed."""
    installed = importlib.metadata.version("llama-cpp-python")
    assert installed in TESTED_LLAMA_CPP, (
        f"llama-cpp-python {installed} is installed; babeldesk is tested with "
        f"{', '.join(TESTED_LLAMA_CPP)}: run ./scripts/test on a fresh venv")
    pinned = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"llama-cpp-python=={installed}"' in pinned
