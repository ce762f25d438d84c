"""Config validation: every problem names the key and what is wrong, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from adapters import check_settings, settings
from adapters.discord import DiscordAdapter
from bot.config import Config, load_config
from bot.errors import ConfigError
from bot.texts import ENDONYMS, TEXTS
from helpers import ROOT


def test_the_shipped_config_yaml_is_valid_and_matches_the_defaults():
    config = load_config(ROOT / "config.yaml")
    defaults = Config()
    for section in ("model", "knowledge", "retrieval", "history"):
        shipped, default = getattr(config, section), getattr(defaults, section)
        for name in vars(default):
            if name != "path":
                assert getattr(shipped, name) == getattr(default, name), f"{section}.{name}"
    assert config.languages == defaults.languages
    assert config.knowledge.path == ROOT / "knowledge"
    assert config.data_dir == ROOT / "data"


@pytest.mark.parametrize("data, key, words", [
    ({"retrieval": {"embedding": {"source": "path"}}}, "retrieval.embedding.path",
     "is required"),
    ({"retrieval": {"embedding": {"source": "huggingface", "repo": "a/b", "file": "e.bin"}}},
     "retrieval.embedding.file", ".gguf"),
    ({"retrieval": {"embedding": {"source": "sentence-transformers"}}},
     "retrieval.embedding.source", "must be one of"),
    ({"retrieval": {"dense": "sometimes"}}, "retrieval.dense", ""),
    ({"lingua": "yes please"}, "lingua", ""),
    ({"glossary": ["Tor Browser", "  "]}, "glossary[1]", "must not be empty"),
    ({"glossary": "Tor Browser"}, "glossary", "a list of strings"),
    ({"modle": {}}, "modle", "unknown key"),
    ({"model": {"n_ctx": "big"}}, "model.n_ctx", "must be an integer"),
    ({"model": {"n_ctx": 4096.5}}, "model.n_ctx", "must be an integer"),
    ({"model": {"temperature": 5}}, "model.temperature", "between 0 and 2"),
    ({"model": {"temperature": True}}, "model.temperature", "must be a number"),
    ({"model": {"source": "cloud"}}, "model.source", "must be one of"),
    ({"model": {"source": "path"}}, "model.path", "required"),
    ({"model": {"source": "path", "path": "missing.gguf"}}, "model.path", "no such file"),
    ({"model": {"source": "huggingface", "repo": "a/b"}}, "model.file", "required"),
    ({"model": {"max_tokens": 4000}}, "model.max_tokens", "half of n_ctx"),
    ({"model": {"gpu_layer": 1}}, "model.gpu_layer", "unknown key"),
    ({"knowledge": {"path": "nowhere"}}, "knowledge.path", "no such folder"),
    ({"knowledge": {"watch": "yes"}}, "knowledge.watch", "true or false"),
    ({"retrieval": {"min_relevance": 1.5}}, "retrieval.min_relevance", "between 0 and 1"),
    ({"retrieval": {"embedding": {"relevance_floor": 1.2}}}, "retrieval.embedding.relevance_floor",
     "between -1 and 1"),
    ({"retrieval": {"embedding": {"relevance_span": 0}}}, "retrieval.embedding.relevance_span",
     "more than 0"),
    ({"retrieval": {"embedding": {"relevance_floor": 0.34}}}, "retrieval.embedding.relevance_span",
     "must be set too"),
    ({"retrieval": {"embedding": {"relevance_floor": 0.9, "relevance_span": 2}}},
     "retrieval.embedding.relevance_floor", "no embedding reaches"),
    ({"languages": "en"}, "languages", "list of strings"),
    ({"languages": ["en", "xx"]}, "languages[1]", "babeldesk can detect"),
    ({"languages": ["en", "en"]}, "languages", "twice"),
    ({"default_language": "fr", "languages": ["en", "es"]}, "default_language", "not in languages"),
    ({"languages": ["en", "bg"]}, "texts.bg.no_answer", "write one here"),
    ({"texts": {"en": {"handof": "x"}}}, "texts.en.handof", "unknown text"),
    ({"texts": {"xx": {"handoff": "x"}}}, "texts.xx", "not one of the configured"),
    ({"prompt": {"system": "Hi {name}"}}, "prompt.system", "{product} and {language}"),
    ({"history": {"max_turns": -1}}, "history.max_turns", "0 or more"),
    ({"adapters": {"terminal": {"enabled": 1}}}, "adapters.terminal.enabled", "true or false"),
    ({"adapters": {"slack": {"mode": "rtm"}}}, "adapters.slack.mode", "socket or http"),
    ({"adapters": {"slack": {"bot_token_env": "xoxb-123"}}}, "adapters.slack.bot_token_env",
     "name of an environment variable"),
    ({"adapters": {"slack": {"update_interval": 0.2}}}, "adapters.slack.update_interval",
     "at least 1 second"),
    ({"adapters": {"slack": {"support_channels": ["#help"]}}},
     "adapters.slack.support_channels[0]", "channel id"),
    ({"adapters": {"slack": {"http_port": 70000}}}, "adapters.slack.http_port", "port"),
    ({"adapters": {"discord": {"support_channels": ["general"]}}},
     "adapters.discord.support_channels[0]", "Discord id"),
    ({"adapters": {"discord": {"allow_roles": ["support"]}}}, "adapters.discord.allow_roles[0]",
     "Discord id"),
    ({"adapters": {"slack": {"user_rate": -1}}}, "adapters.slack.user_rate", "0 (no limit)"),
    ({"adapters": {"discord": {"handoff_role": "@support"}}}, "adapters.discord.handoff_role",
     "role id"),
    ({"adapters": {"discord": {"token_env": ""}}}, "adapters.discord.token_env",
     "name of an environment variable"),
    ({"model": {"backend": "vllm"}}, "model.backend", "llama or openai"),
    ({"model": {"backend": "openai", "name": "m"}}, "model.base_url", "http(s) URL"),
    ({"model": {"backend": "openai", "base_url": "localhost:8000"}}, "model.base_url",
     "http(s) URL"),
    ({"model": {"backend": "openai", "base_url": "http://h/v1"}}, "model.name",
     "mistral-small-latest"),
    ({"model": {"backend": "openai", "base_url": "http://h/v1", "name": "m",
                "api_key_env": "sk-123"}}, "model.api_key_env", "environment variable"),
    ({"model": {"parallel": 4}}, "model.parallel", "must be 1 for the llama backend"),
    ({"model": {"timeout": 0}}, "model.timeout", "greater than 0"),
    ({"adapters": {"http": {"port": -1}}}, "adapters.http.port", "port"),
    ({"adapters": {"teams": {"enabled": True}}}, "adapters.teams", "no such platform"),
    ({"adapters": {"slack": "on"}}, "adapters.slack", "mapping"),
    ({"adapters": {"slack": {"staff_group": "support"}}}, "adapters.slack.staff_group",
     "user group id"),
    ({"server": {"port": "eighty"}}, "server.port", "must be an integer"),
    ({"server": {"shutdown_grace": -5}}, "server.shutdown_grace", "0 or more"),
    (["not", "a", "mapping"], "", "mapping"),
])


def test_a_bad_config_names_the_key_and_the_problem(tmp_path, data, key, words):
    (tmp_path / "knowledge").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        check_settings(load_config(path))
    assert caught.value.key == key
    assert words in str(caught.value)


def test_invalid_yaml_and_a_missing_file_are_reported(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("model:\n  n_ctx: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(path)
    with pytest.raises(ConfigError, match="no config file"):
        load_config(tmp_path / "absent.yaml")


def test_a_language_beyond_the_shipped_ones_works_with_its_texts(tmp_path):
    (tmp_path / "knowledge").mkdir()
    texts = {k: f"{k} in Bulgarian" for k in
             ("no_answer", "handoff", "error", "empty", "truncated", "refusal", "sources",
              "handoff_done", "released", "human_button", "release_button", "interrupted",
              "language_switched", "greeting_reply", "thanks_reply", "bot_reply",
              "quote_intro", "quote_intro_translated", "quote_intro_original")}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"languages": ["en", "bg"], "texts": {"bg": texts}}))
    config = load_config(path)
    assert config.make_texts().get("handoff", "bg") == "handoff in Bulgarian"
    # a text newer than the config is said in the default language meanwhile
    assert config.make_texts().get("languages_spoken", "bg") == TEXTS["en"]["languages_spoken"]


def test_every_shipped_language_says_which_languages_babeldesk_speaks():
    for language, texts in TEXTS.items():
        assert "{languages}" in texts["languages_spoken"], language
        assert language in ENDONYMS


def test_the_cli_prints_one_line_for_a_bad_config_and_exits_2(tmp_path):
    (tmp_path / "knowledge").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text("model:\n  temperature: hot\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(path), "check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "babeldesk: config: model.temperature: must be a number, got 'hot'"]
    assert "Traceback" not in result.stderr


def test_unquoted_discord_ids_are_read_as_ids(tmp_path):
    (tmp_path / "knowledge").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text("adapters:\n  discord:\n    support_channels: [123456789012345678]\n"
                    "    handoff_role: 223456789012345678\n")
    discord = settings(load_config(path), DiscordAdapter)
    assert discord.support_channels == ["123456789012345678"]
    assert discord.handoff_role == "223456789012345678"


def test_a_key_given_twice_is_an_error_naming_it(tmp_path):
    (tmp_path / "knowledge").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text("model:\n  max_tokens: 200\n  temperature: 0.1\n  max_tokens: 900\n"
                    "retrieval:\n  top_k: 3\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(path), "check",
                             "--no-load"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "babeldesk: config: model.max_tokens: given twice (lines 2 and 4); keep one"]
    path.write_text("texts:\n  en: {handoff: a}\n  en: {handoff: b}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="given twice") as caught:
        load_config(path)
    assert caught.value.key == "texts.en"
    # The same key in different mappings is no duplicate.
    path.write_text("model:\n  max_tokens: 200\nprompt:\n  history_tokens: 200\n"
                    "adapters:\n  slack: {enabled: false}\n  discord: {enabled: false}\n",
                    encoding="utf-8")
    assert load_config(path).model.max_tokens == 200
