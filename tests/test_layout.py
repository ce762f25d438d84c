"""The core stays free of chat-platform libraries, so a new platform is one adapter file."""

from __future__ import annotations

import ast

from helpers import ROOT

# aiohttp is not one: it is the core's HTTP client for actions (bot/actions.py) as well as the
# HTTP adapter's server
PLATFORM_LIBRARIES = {"slack_bolt", "slack_sdk", "discord", "adapters"}


def imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_bot_imports_no_platform_library():
    for path in (ROOT / "bot").rglob("*.py"):
        if path.name == "cli.py":  # the command line puts adapters and core together
            continue
        found = set(imported_modules(path)) & PLATFORM_LIBRARIES
        assert not found, f"{path.name} imports {found}"


NEW_PLATFORM = '''
"""A platform babeldesk did not ship: one file, nothing else."""
from dataclasses import dataclass

from bot.config import check
from adapters import settings


@dataclass(frozen=True)
class EchoConfig:
    enabled: bool = True
    greeting: str = "hi"

    def validate(self, key):
        check(self.greeting.strip() != "", f"{key}.greeting", "must not be empty")


class EchoAdapter:
    name = "echo"
    Settings = EchoConfig
    started = []

    def __init__(self, config):
        self.config = config

    @classmethod
    def from_config(cls, config, pipeline):
        cfg = settings(config, cls)
        return cls(cfg) if cfg.enabled else None

    async def start(self):
        EchoAdapter.started.append(self.config.greeting)

    async def stop(self):
        pass


ADAPTER = EchoAdapter
'''


async def test_a_new_platform_is_one_file_with_its_own_settings(tmp_path, monkeypatch,
                                                                write_config):
    import adapters
    from bot.errors import ConfigError

    (tmp_path / "echo.py").write_text(NEW_PLATFORM, encoding="utf-8")
    monkeypatch.setattr(adapters, "__path__", [*adapters.__path__, str(tmp_path)])
    adapters.platforms.cache_clear()
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        bad = write_config(adapters={"echo": {"greeting": " "}})
        try:
            adapters.check_settings(bad)
            raise AssertionError("the new platform's settings were not checked")
        except ConfigError as exc:
            assert exc.key == "adapters.echo.greeting"
        config = write_config(adapters={"echo": {"greeting": "hello"},
                                        "slack": {"enabled": False},
                                        "discord": {"enabled": False}})
        adapters.check_settings(config)
        said = []
        running = await adapters.start_adapters(config, pipeline=None, say=said.append)
        assert [a.name for a in running] == ["echo"] and "echo: connected" in said
        assert running[0].started == ["hello"]
    finally:
        adapters.platforms.cache_clear()


def test_release_words_come_from_every_shipped_language():
    from adapters.reply import release_words, said_words
    from bot.texts import TEXTS

    words = release_words()
    assert {"release", "freigeben"} <= words
    for language, entries in TEXTS.items():
        first = entries["release_words"].split(",")[0].strip()
        assert said_words(f"<@U0BABELBOT> {first.upper()}!") in words, language
