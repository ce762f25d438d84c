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
