"""One small generation with the configured model in a child process, before the model is
loaded for real.

A llama.cpp compiled with another machine's instructions (GGML_NATIVE=ON on one CPU, run on
another) dies with SIGSEGV or SIGILL on its first batch, taking the whole process with it and
leaving the person running babeldesk with "Segmentation fault" and nothing else. In a child
process that death becomes one sentence with the command that fixes it. The outcome is kept
per model file, llama.cpp build and CPU, so later starts cost nothing.

Run as `python -m bot.probe SETTINGS_JSON` it is that child: it prints one line of JSON.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import ModelError

log = logging.getLogger(__name__)

#: seconds one probe may take: a 24B model read from a slow disk, or offloaded to a GPU
TIMEOUT = 900.0
#: probes remembered in one file (one per model, build and CPU)
KEEP = 20
#: A prompt of about 60 tokens: read as one batch, it goes through llama.cpp's matrix kernels,
#: where a build for another CPU fails, then two tokens are generated one at a time.
PROMPT = ("A customer asks how long delivery takes and whether the kettle can be returned. "
          "Standard delivery takes three to five working days; express takes one. Returns are "
          "free within thirty days of delivery, in the original box, with the receipt.")

#: llama.cpp's `general.file_type` numbers (enum llama_ftype) and the quantisation they name
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE",
}


@dataclass(frozen=True)
class Probe:
    """What the child saw: the build, and the model as llama.cpp reads it."""

    llama_cpp_version: str
    #: llama.cpp's system info line: the CPU features its kernels use
    system_info: str
    #: the GGUF's `general.name` (its authors' words, not always the quantisation's)
    model_name: str
    #: the quantisation, from `general.file_type` (Q4_K_M, Q8_0, …), or "" when not stated
    quantisation: str
    seconds: float


class BuildCrash(ModelError):
    """llama.cpp killed the process running the model: a build that does not fit this CPU."""


def rebuild_command() -> str:
    """The command that replaces this venv's llama-cpp-python with a portable build."""
    version = llama_cpp_version() or "0.3.36"
    return (f'CMAKE_ARGS="-DGGML_NATIVE=OFF" {sys.executable} -m pip install --force-reinstall '
            f"--no-deps --no-cache-dir llama-cpp-python=={version}")


def llama_cpp_version() -> str:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return ""


def build_identity() -> dict:
    """The installed llama-cpp-python and its compiled libraries, without importing it (an
    import may be what crashes)."""
    spec = importlib.util.find_spec("llama_cpp")
    libraries = []
    if spec and spec.submodule_search_locations:
        folder = Path(list(spec.submodule_search_locations)[0]) / "lib"
        for lib in sorted(folder.glob("*")) if folder.is_dir() else []:
            st = lib.stat()
            libraries.append([lib.name, st.st_size, st.st_mtime_ns])
    return {"version": llama_cpp_version(), "libraries": libraries,
            "python": sys.executable}


def cpu_identity() -> str:
    """The processor: its model and the instruction sets it offers."""
    lines = []
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("model name", "flags", "Features", "CPU part")):
                    lines.append(line.strip())
                if not line.strip() and lines:
                    break  # the first processor's block is enough
    except OSError:
        lines.append(platform.processor())
    lines.append(platform.machine())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def _key(path: Path, settings: dict) -> str:
    st = path.stat()
    identity = {"model": [str(path.resolve()), st.st_size, st.st_mtime_ns],
                "build": build_identity(), "cpu": cpu_identity(), "settings": settings}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _read(cache: Path) -> dict:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def check_model_runs(path: Path, cache: Path, threads: int = 0, gpu_layers: int = 0,
                     flash_attn: bool = True, command: list[str] | None = None,
                     lora_path: Path | None = None, lora_scale: float = 1.0) -> Probe:
    """Run the probe for `path` in a child process, or recall its outcome; BuildCrash when
    the child is killed by a signal, ModelError when llama.cpp refuses the model.

    With `lora_path`, the model runs with that LoRA adapter applied: llama.cpp crashes on
    some adapters it loads without complaint (tensors in float64, say), so a crash is then
    the adapter's ModelError. `command` replaces the child's command line (the settings JSON
    is appended).
    """
    settings = {"threads": threads, "gpu_layers": gpu_layers, "flash_attn": flash_attn}
    if lora_path is not None:
        st = Path(lora_path).stat()
        settings.update(lora_path=str(Path(lora_path).resolve()), lora_scale=lora_scale,
                        lora_file=[st.st_size, st.st_mtime_ns])
    key = _key(path, settings)
    known = _read(cache)
    if key in known:
        try:
            return Probe(**known[key])
        except TypeError:
            pass  # written by another version of babeldesk
    args = json.dumps({"path": str(path), **settings})
    argv = (command or [sys.executable, "-m", "bot.probe"]) + [args]
    log.info("checking that llama.cpp runs %s on this CPU (once)", path.name)
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    try:
        child = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=env,
                               stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ModelError(f"a test generation with {path} did not finish in {TIMEOUT:.0f} s"
                         ) from None
    if child.returncode < 0:
        try:
            name = signal.Signals(-child.returncode).name
        except ValueError:
            name = f"signal {-child.returncode}"
        log.debug("the probe's output:\n%s", child.stderr)
        if lora_path is not None:
            raise ModelError(
                f"llama.cpp crashed ({name}) running {path.name} with the LoRA adapter "
                f"{lora_path}: the adapter does not suit this model or this llama.cpp (make "
                "it with llama.cpp's convert_lora_to_gguf.py from a PEFT adapter trained on "
                "this base model; tensors in F32, F16 or BF16)")
        raise BuildCrash(
            f"llama.cpp crashed ({name}) running the model on this CPU: this "
            f"llama-cpp-python build uses instructions this processor lacks or mishandles; "
            f"rebuild it portably with: {rebuild_command()}")
    outcome = _last_json(child.stdout)
    if child.returncode != 0 or outcome is None or "error" in outcome:
        problem = (outcome or {}).get("error") or (child.stderr.strip().splitlines() or
                                                   [f"exit code {child.returncode}"])[-1]
        raise ModelError(f"cannot load the model {path}: {problem}")
    probe = Probe(**outcome)
    known = {k: v for k, v in known.items() if k != key}
    known[key] = asdict(probe)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(cache.name + ".partial")
        partial.write_text(json.dumps(dict(list(known.items())[-KEEP:]), indent=1),
                           encoding="utf-8")
        os.replace(partial, cache)
    except OSError as exc:  # a read-only data folder: probe again next time
        log.warning("cannot remember the model check in %s: %s", cache, exc)
    return probe


def _last_json(output: str) -> dict | None:
    for line in reversed(output.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _run(settings: dict) -> dict:
    """The child's work: load, read a batch, generate two tokens, describe the build."""
    import llama_cpp
    from llama_cpp import Llama

    started = time.monotonic()
    try:
        llm = Llama(model_path=settings["path"], n_ctx=256,
                    n_threads=settings["threads"] or max(1, os.cpu_count() or 1),
                    n_gpu_layers=settings["gpu_layers"], flash_attn=settings["flash_attn"],
                    lora_path=settings.get("lora_path"),
                    lora_scale=settings.get("lora_scale", 1.0), verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        return {"error": str(exc)}
    if settings.get("lora_path") and not llm._lora_adapter:
        return {"error": f"llama.cpp refused the LoRA adapter {settings['lora_path']} (made "
                         "for another model or architecture?)"}
    tokens = llm.tokenize(PROMPT.encode("utf-8"), add_bos=True)
    generated = 0
    for _ in llm.generate(tokens, temp=0.0, reset=True):
        generated += 1
        if generated == 2:
            break
    file_type = llm.metadata.get("general.file_type")
    try:
        quantisation = FILE_TYPES.get(int(file_type), f"type {file_type}") \
            if file_type is not None else ""
    except ValueError:
        quantisation = str(file_type)
    return {"llama_cpp_version": llama_cpp.__version__,
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace")
            .strip(),
            "model_name": llm.metadata.get("general.name", ""),
            "quantisation": quantisation,
            "seconds": round(time.monotonic() - started, 2)}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(json.dumps(_run(json.loads(args[0]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
