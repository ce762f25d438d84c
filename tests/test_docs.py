"""The README documents every command and every config key."""

from __future__ import annotations

import dataclasses
import typing

from helpers import ROOT

from adapters import setting_types
from bot.cli import COMMANDS, build_parser
from bot.config import Config

README = (ROOT / "README.md").read_text(encoding="utf-8")


def config_keys(cls=Config, prefix=""):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            yield from config_keys(hints[f.name], f"{key}.")
        else:
            yield key


def test_every_config_key_is_in_the_readme_and_in_config_yaml():
    shipped = (ROOT / "config.yaml").read_text(encoding="utf-8")
    # `adapters` is a mapping each platform types itself: its keys are the platforms'
    keys = [key for key in config_keys() if key != "adapters"]
    for name, settings_type in setting_types().items():
        keys += config_keys(settings_type, f"adapters.{name}.")
    assert len(keys) > 25
    for key in keys:
        assert f"`{key}`" in README, f"README does not document {key}"
        assert f"{key.rsplit('.', 1)[-1]}:" in shipped, f"config.yaml does not show {key}"


def test_every_command_is_in_the_readme():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    names = []
    for name, sub in subparsers.choices.items():
        nested = [a for a in sub._actions if a.dest.endswith("_command")]
        names += [f"{name} {n}" for n in nested[0].choices] if nested else [name]
    assert sorted(names) == sorted(COMMANDS)
    for name in names:
        assert f"`babeldesk {name}" in README, f"README does not document babeldesk {name}"


def test_readme_gives_the_two_setup_commands_and_ci_runs_the_test_one():
    assert "./scripts/chat" in README and "./scripts/test" in README
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_every_variable_the_set_up_scripts_read_is_in_the_readme():
    import re

    names = set()
    for script in ("bootstrap", "chat", "test"):
        names |= set(re.findall(r"\b(BABELDESK_[A-Z_]+)", (ROOT / "scripts" / script).read_text()))
    assert "BABELDESK_NATIVE_BUILD" in names
    for name in names:
        assert f"`{name}" in README, f"README does not document {name}"
