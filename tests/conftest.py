"""Shared fixtures: the real embedded model, a copy of the sample knowledge, a config on disk."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import discord.gateway
import discord.http
import pytest
import yaml
import yarl
from engines import ScriptedEngine
from fake_discord import FakeDiscord

from bot.config import load_config
from bot.core import open_core, open_knowledge
from bot.engine import LlamaEngine
from bot.language import LanguageDetector
from bot.models import assemble_embedded
from helpers import ROOT


#: the longest answer in the tests' configs (the shipped default is 320): the real model's
#: answers are most of the suite's time
ANSWER_TOKENS = 64


@pytest.fixture(scope="session")
def model_path(tmp_path_factory) -> Path:
    """The embedded GGUF, assembled and verified once per test run."""
    return assemble_embedded(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def engine(model_path) -> LlamaEngine:
    """The real model, loaded once and shared (cores in tests take turns with it). It has
    no state cache: test_cache.py puts one in for its tests, and takes it out again."""
    return LlamaEngine(model_path, n_ctx=4096)


@pytest.fixture
def scripted() -> ScriptedEngine:
    """The stand-in model of the platform tests (tests/engines.py)."""
    return ScriptedEngine()


@pytest.fixture
def knowledge_dir(tmp_path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", target)
    return target


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory) -> Path:
    """The sample knowledge indexed and embedded once per test run (about 8 s), as a data
    volume kept from an earlier start: each test's start-up then finds every passage's vector
    stored and embeds nothing."""
    folder = tmp_path_factory.mktemp("sample")
    shutil.copytree(ROOT / "knowledge", folder / "knowledge")
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({"data_dir": "data", "knowledge": {"path": "knowledge"}}))
    config = load_config(path)
    knowledge = open_knowledge(config, LanguageDetector(config.languages,
                                                        config.default_language))
    try:
        knowledge.sync(full=True)
    finally:
        knowledge.close()
    return config.data_dir / "knowledge.db"


@pytest.fixture
def write_config(tmp_path, knowledge_dir, sample_index):
    """Write a config.yaml in tmp_path (sample knowledge, temporary data dir) and load it."""
    (tmp_path / "data").mkdir(exist_ok=True)
    shutil.copyfile(sample_index, tmp_path / "data" / "knowledge.db")

    def write(extra: dict | None = None, **sections):
        # Answers of at most ANSWER_TOKENS tokens: enough to tell their language and what
        # they say; a test that needs longer ones asks for them.
        data = {"data_dir": "data", "knowledge": {"path": str(knowledge_dir),
                                                  "watch_interval": 0.2},
                "server": {"port": 0}, "model": {"max_tokens": ANSWER_TOKENS}}
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


@pytest.fixture
async def discord_fake(caplog):
    """A started FakeDiscord with discord.py pointed at it (restored afterwards). Fails the test
    if discord.py logged an error (an exception in an event handler, a payload it choked on) or
    left a task running."""
    caplog.set_level(logging.WARNING, logger="discord")
    fake = await FakeDiscord().start()
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield fake
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway
        await fake.stop()
        await asyncio.sleep(0)
        leftover = [t for t in asyncio.all_tasks()
                    if t is not asyncio.current_task() and not t.done()]
        assert not leftover, leftover
        records = caplog.get_records("setup") + caplog.get_records("call") + caplog.records
        errors = [r for r in records
                  if r.name.startswith("discord") and r.levelno >= logging.ERROR]
        assert not errors, [r.getMessage() for r in errors]
