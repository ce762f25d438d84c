"""The container image: docker/config.yaml and docker/env.example stay in step with the config,
and, in CI, scripts/container-check builds the image with podman and runs it for real."""

from __future__ import annotations

import collections
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import typing

import pytest
import yaml

from adapters import check_settings, setting_types, settings
from adapters.http import HttpAdapter
from bot.config import Config, make_config
from helpers import ROOT

SCRIPT = ROOT / "scripts" / "container-check"
TIMEOUT = 45 * 60
RUN_IT = os.environ.get("CI") == "true" or os.environ.get("BABELDESK_CONTAINER_TEST") == "1"


def test_image_config_is_a_valid_config(tmp_path):
    """The config baked into the image loads, with its absolute paths pointed at this checkout."""
    data = yaml.safe_load((ROOT / "docker" / "config.yaml").read_text(encoding="utf-8"))
    assert data["data_dir"] == "/data" and data["knowledge"]["path"] == "/knowledge"
    assert data["server"]["port"] == 8080 and data["adapters"]["http"]["port"] == 8090
    data["data_dir"] = str(tmp_path / "data")
    data["knowledge"]["path"] = str(ROOT / "knowledge")
    config = make_config(data, base=tmp_path)
    check_settings(config)
    assert config.server.host == "0.0.0.0" and settings(config, HttpAdapter).enabled


def secret_variables(cls=Config):
    """The default environment variable of every `*_env` key: the secrets."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            yield from secret_variables(hints[f.name])
        elif f.name.endswith("_env") and isinstance(f.default, str) and f.default:
            yield f.default


def test_env_example_names_every_secret():
    example = (ROOT / "docker" / "env.example").read_text(encoding="utf-8")
    names = {line.split("=", 1)[0] for line in example.splitlines()
             if line and not line.startswith("#")}
    secrets = set(secret_variables())
    for settings_type in setting_types().values():
        secrets |= set(secret_variables(settings_type))
    missing = secrets - names
    assert not missing, f"docker/env.example does not list {sorted(missing)}"


@pytest.mark.skipif(not RUN_IT, reason="builds and runs the container image with podman (as root, "
                    "10-15 minutes the first time): run with BABELDESK_CONTAINER_TEST=1 "
                    "(CI=true does too), or run scripts/container-check directly")
def test_container_check(capsys):
    """Build the image, reject a bad config, answer over HTTP, stop cleanly on SIGTERM."""
    tail: collections.deque[str] = collections.deque(maxlen=80)
    proc = subprocess.Popen([str(SCRIPT)], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", bufsize=1, start_new_session=True)

    def pump():
        for line in proc.stdout:
            tail.append(line.rstrip("\n"))
            # shown as it comes, not only at the end: the first build takes minutes
            with capsys.disabled():
                sys.stdout.write(line)
                sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        returncode = proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # the script's own process group: it cleans up
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(timeout=10)
        pytest.fail(f"scripts/container-check took more than {TIMEOUT // 60} minutes:\n"
                    + "\n".join(tail))
    reader.join(timeout=10)
    assert returncode == 0, (f"scripts/container-check failed (exit {returncode}); last lines:\n"
                             + "\n".join(tail))


def test_the_image_has_tesseract_models_for_its_languages(tmp_path):
    """Screenshots in every language of the image's config are read: the Dockerfile installs
    the Tesseract pack each of them needs."""
    import re

    from bot.ocr import TextReader, package_of

    data = yaml.safe_load((ROOT / "docker" / "config.yaml").read_text(encoding="utf-8"))
    data.update(data_dir=str(tmp_path), knowledge={"path": str(ROOT / "knowledge")})
    config = make_config(data, base=tmp_path)
    installed = set(re.findall(r"tesseract-ocr-[a-z-]+",
                               (ROOT / "Dockerfile").read_text(encoding="utf-8")))
    empty = tmp_path / "tessdata"
    empty.mkdir()
    wanted = {package_of(code) for code in TextReader(config.languages, tessdata=empty).missing()}
    assert wanted and wanted <= installed, sorted(wanted - installed)
