"""Shared fixtures: the real embedded model, a copy of the sample knowledge, a config on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot.config import load_config
from bot.core import open_core
from bot.engine import LlamaEngine
from bot.models import assemble_embedded
from helpers import ROOT


@pytest.fixture(scope="session")
def model_path(tmp_path_factory) -> Path:
    """The embedded GGUF, assembled and verified once per test run."""
    return assemble_embedded(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def engine(model_path) -> LlamaEngine:
    """The real model, loaded once and shared (cores in tests take turns with it)."""
    return LlamaEngine(model_path, n_ctx=4096)


@pytest.fixture
def knowledge_dir(tmp_path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", target)
    return target


@pytest.fixture
def write_config(tmp_path, knowledge_dir):
    """Write a config.yaml in tmp_path (sample knowledge, temporary data dir) and load it."""

    def write(extra: dict | None = None, **sections):
        data = {"data_dir": "data", "knowledge": {"path": str(knowledge_dir),
                                                  "watch_interval": 0.2}}
        for key, value in {**(extra or {}), **sections}.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return load_config(path)

    return write


@pytest.fixture
def config(write_config):
    return write_config()


@pytest.fixture
def core(config, engine):
    core = open_core(config, engine=engine)
    yield core
    core.close()

