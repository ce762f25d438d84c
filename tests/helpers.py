"""Small builders shared by the tests."""

from __future__ import annotations

import time
from pathlib import Path

from bot.message import Message

ROOT = Path(__file__).resolve().parent.parent


def message(text, channel="C1", thread="", platform="test", workspace="T1", author="U1",
            locale=""):
    return Message(platform=platform, workspace=workspace, channel=channel, thread=thread,
                   author=author, text=text, locale=locale)


def wait_until(condition, timeout: float = 120.0, step: float = 0.05) -> bool:
    """Poll until `condition()` holds; the timeout is generous because CI machines are shared
    (a deadline, not an expectation: an idle machine passes at once)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def import_shop():
    """examples/shop.py, imported from its file as the README runs it (examples/ is not a
    package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("babeldesk_example_shop",
                                                  ROOT / "examples" / "shop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shop_actions(base_url: str) -> dict:
    """The example's `actions:` and `action_hosts:`, pointed at a shop started on
    `base_url` (a test's port instead of 8765)."""
    import yaml

    fragment = yaml.safe_load((ROOT / "examples" / "shop-actions.yaml").read_text())
    for action in fragment["actions"]:
        action["request"]["url"] = action["request"]["url"].replace(
            "http://127.0.0.1:8765", base_url.rstrip("/"))
    return fragment
