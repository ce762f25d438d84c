"""The core stays free of chat-platform libraries, so a new platform is one adapter file."""

from __future__ import annotations

import ast

from helpers import ROOT

PLATFORM_LIBRARIES = {"slack_bolt", "slack_sdk", "discord", "aiohttp", "adapters"}


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
