"""The babeldesk command, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def babeldesk(config, *args, stdin=None, timeout=300):
    env = {**os.environ, "BABELDESK_CONFIG": str(config.origin)}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture
def cli_config(write_config, model_path):
    # Short answers: these tests are about the command, not about what the model writes.
    return write_config(model={"source": "path", "path": str(model_path), "max_tokens": 48})


@pytest.mark.model
def test_ask_json_answers_with_language_and_sources(cli_config):
    result = babeldesk(cli_config, "ask", "--json", "¿Cómo puedo restablecer mi contraseña?")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"answer", "language", "answer_language", "sources", "abstained"} <= set(data)
    assert data["language"] == "es" and data["abstained"] is False and data["answer"]
    assert "es/cuenta.md" in [s["path"] for s in data["sources"]]


@pytest.mark.model
def test_ask_continues_a_conversation_and_reads_standard_input(cli_config):
    first = babeldesk(cli_config, "ask", "--json", "--conversation", "c1",
                      "¿Cuánto tarda el envío?")
    assert json.loads(first.stdout)["language"] == "es"
    second = babeldesk(cli_config, "ask", "--json", "--conversation", "c1", "-", stdin="ok")
    data = json.loads(second.stdout)
    assert data["language"] == "es"  # the short "ok" kept the conversation's language
    plain = babeldesk(cli_config, "ask", "What is the capital of Mongolia?")
    assert plain.returncode == 0
    assert "I couldn't find this in our help articles" in plain.stdout
    assert plain.stdout.rstrip().endswith("[en]")


@pytest.mark.model
def test_check_passes_on_a_good_setup_and_fails_on_a_broken_file(cli_config):
    result = babeldesk(cli_config, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "model      ok" in result.stdout and "knowledge  ok: 21 files" in result.stdout
    # The build and the model as llama.cpp reads them: its CPU features, the quantisation.
    build = next(line for line in result.stdout.splitlines() if line.startswith("build"))
    assert build.startswith("build      ok: llama-cpp-python 0.3.36, llama.cpp system info: ")
    assert "AVX" in build or "NEON" in build
    assert "quantisation Q4_K_M, GGUF metadata name" in result.stdout
    (cli_config.knowledge.path / "broken.yaml").write_text("- question: [\n")
    result = babeldesk(cli_config, "check", "--no-load")
    assert result.returncode == 1
    assert "broken.yaml: not valid YAML" in result.stdout


def test_check_reports_a_model_that_is_not_downloaded(write_config):
    config = write_config(model={"source": "huggingface", "repo": "org/none", "file": "x.gguf"})
    result = babeldesk(config, "check", "--no-load")
    assert result.returncode == 1
    assert "model      FAIL" in result.stdout and "babeldesk model pull" in result.stdout


def test_index_lists_every_file(config):
    (config.data_dir / "knowledge.db").unlink()  # a first start, nothing indexed yet
    result = babeldesk(config, "index")
    assert result.returncode == 0, result.stderr
    assert "21 files" in result.stdout and "21 added" in result.stdout
    assert "embeddings: 145 passages embedded now" in result.stdout
    assert "ja/billing.md" in result.stdout
    again = babeldesk(config, "index")
    assert "21 unchanged" in again.stdout
    assert "embeddings: 0 passages embedded now" in again.stdout


def test_model_pull_assembles_the_embedded_model(write_config, model_path):
    # The data dir's models folder already holds a verified copy: pull reports it at once.
    config = write_config()
    config.models_dir.mkdir(parents=True)
    for name in (model_path.name, model_path.name + ".verified"):
        os.link(model_path.parent / name, config.models_dir / name)
    result = babeldesk(config, "model", "pull")
    assert result.returncode == 0, result.stderr
    assert "491,400,064 bytes" in result.stdout


def test_history_forget(config):
    from bot.core import open_history
    from bot.history import ConversationKey, Turn

    history = open_history(config)
    history.add_exchange(ConversationKey("slack", "T", "C9", ""), Turn("user", "q", "alice"),
                         Turn("assistant", "a", "alice"))
    history.close()
    result = babeldesk(config, "history", "forget", "--channel", "C9")
    assert result.returncode == 0 and "deleted 2 turns" in result.stdout
    result = babeldesk(config, "history", "forget")
    assert result.returncode == 2 and "--channel or --user" in result.stderr


def test_a_model_file_that_is_not_gguf_is_one_clear_line(write_config, tmp_path):
    page = tmp_path / "mistral.gguf"
    page.write_text("<html>Sign in to download</html>")
    config = write_config(model={"source": "path", "path": str(page)})
    result = babeldesk(config, "check", "--no-load")
    assert result.returncode == 1
    assert f"model      FAIL: {page} is not a GGUF model file (it starts with b'<htm'" in \
        result.stdout
    result = babeldesk(config, "ask", "hello")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"babeldesk: {page} is not a GGUF model file")


def test_a_model_that_fails_its_hash_is_refused(write_config, model_path):
    config = write_config(model={"source": "path", "path": str(model_path), "sha256": "ab" * 32})
    result = babeldesk(config, "check", "--no-load")
    assert result.returncode == 1
    assert f"model      FAIL: {model_path} has sha256 1d9614638d18024d" in result.stdout
    assert "but model.sha256 expects abab" in result.stdout
    good = write_config(model={"source": "path", "path": str(model_path),
                               "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"})
    assert babeldesk(good, "check", "--no-load").returncode == 0


def test_a_data_dir_that_cannot_be_written_is_one_clear_line(write_config, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data volume should be")
    config = write_config(data_dir=str(blocker / "data"))
    result = babeldesk(config, "index")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"babeldesk: config: data_dir: cannot write to {blocker / 'data'}: Not a directory "
        "(in a container: is the data volume mounted and writable by the babeldesk user?)")


def test_check_with_a_data_dir_under_a_file_is_one_line(write_config, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config = write_config(data_dir=str(blocker / "data"))
    for command in (["check"], ["check", "--no-load"]):
        result = babeldesk(config, *command)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"babeldesk: config: data_dir: cannot write to {blocker / 'data'}: Not a directory "
            "(in a container: is the data volume mounted and writable by the babeldesk user?)"]


def test_a_database_that_cannot_be_written_is_one_line(config):
    """chattr +i: no process may write the file, root included (chmod does not stop root)."""
    database = config.data_dir / "knowledge.db"
    if subprocess.run(["chattr", "+i", str(database)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available on this file system")
    try:
        result = babeldesk(config, "index")
    finally:
        subprocess.run(["chattr", "-i", str(database)], check=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"babeldesk: config: data_dir: a database in {config.data_dir} cannot be written: "
        "attempt to write a readonly database (check its files' permissions and owner; in a "
        "container: is the data volume writable by the babeldesk user?)"]
