"""Only regular files inside the knowledge folder are read: a link out of it cannot leak a file,
a FIFO cannot freeze the bot, a huge file or /dev/zero cannot exhaust its memory."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from helpers import ROOT, wait_until

from bot.config import Config
from bot.knowledge import KnowledgeBase
from bot.language import LanguageDetector

SECRET = "postgres:x:106:113:PostgreSQL administrator,,,:/var/lib/zebracorn7731:/bin/bash\n"


@pytest.fixture
def detector():
    return LanguageDetector(Config().languages, "en")


@pytest.fixture
def outside(tmp_path):
    secret = tmp_path / "outside" / "passwd"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    return secret


def index(config):
    return subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(config.origin),
                           "index"], capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_index_skips_links_out_fifos_devices_and_oversized_files(write_config, knowledge_dir,
                                                                  outside):
    en = knowledge_dir / "en"
    os.symlink(outside, en / "leak.md")
    os.symlink(outside.parent, en / "linked-folder")  # its files are not listed either
    os.symlink(en / "shipping.md", en / "delivery.md")  # inside the folder: read as it is
    os.mkfifo(en / "pipe.md")
    os.symlink("/dev/zero", en / "zero.md")
    (en / "huge.md").write_text("# Huge\n\n" + "kettle " * 3000)  # 21 kB
    config = write_config(knowledge={"max_file_mb": 0.01})  # 10 kB

    result = index(config)  # today's code hangs on the FIFO or runs out of memory
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("en/")}
    assert f"skipped: a link to {outside}, outside the knowledge folder: never read" in \
        rows["en/leak.md"]
    assert "skipped: not a regular file (a FIFO, device or socket): never read" in \
        rows["en/pipe.md"]
    assert "skipped: a link to /dev/zero, outside the knowledge folder" in rows["en/zero.md"]
    assert "skipped: 21,008 bytes, more than knowledge.max_file_mb allows (10,485 bytes)" in \
        rows["en/huge.md"]
    assert rows["en/delivery.md"].endswith(" ok") and rows["en/shipping.md"].endswith(" ok")
    assert not any("linked-folder" in path for path in rows)
    assert "zebracorn" not in result.stdout + result.stderr
    for path in ("leak.md", "pipe.md", "zero.md", "huge.md"):
        assert str(en / path) in result.stderr  # logged with its path

    base = KnowledgeBase(knowledge_dir, config.data_dir / "knowledge.db",
                         LanguageDetector(config.languages, "en"))
    try:
        assert not [p for _, p in base.passages() if "zebracorn" in p.text]
        delivery = base.search("How long does delivery take?", "en", 5, 0.0)
        assert {"en/delivery.md", "en/shipping.md"} <= {h.passage.source.path for h in delivery}
    finally:
        base.close()


def test_a_fifo_added_while_running_freezes_neither_searches_nor_the_watcher(
        tmp_path, knowledge_dir, detector):
    base = KnowledgeBase(knowledge_dir, tmp_path / "knowledge.db", detector)
    base.sync(full=True)
    base.watch(0.1)
    try:
        os.mkfifo(knowledge_dir / "en" / "pipe.md")
        assert wait_until(lambda: any(f["path"] == "en/pipe.md" and f["error"]
                                      for f in base.files()), timeout=60)
        found = []
        search = threading.Thread(target=lambda: found.append(
            base.search("How do I reset my password?", "en", 3, 0.0)), daemon=True)
        search.start()
        search.join(timeout=60)
        assert found and found[0], "a search waited for the FIFO"
        # The watcher goes on: a new article after the FIFO is served.
        (knowledge_dir / "en" / "tea.md").write_text("# Tea mode\n\nHold the quokkaberry "
                                                     "button for three seconds.\n")
        assert wait_until(lambda: base.search("quokkaberry button", "en", 3, 0.0), timeout=60)
        assert base.stale() == ""
    finally:
        base.close()
