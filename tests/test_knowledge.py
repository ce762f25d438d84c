"""The knowledge folder: parsing, the FTS5 index, relevance, and keeping in step with edits."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3

import numpy as np
import pytest
from helpers import message, wait_until

from bot.config import Config
from bot.core import open_core
from bot.knowledge import CANDIDATES, KnowledgeBase, parse_file
from bot.text import search_terms
from bot.language import LanguageDetector
from bot.pipeline import format_sources


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector(Config().languages, "en")


@pytest.fixture
def kb(tmp_path, knowledge_dir, detector):
    base = KnowledgeBase(knowledge_dir, tmp_path / "data" / "knowledge.db", detector)
    base.sync(full=True)
    yield base
    base.close()


def test_every_sample_file_is_indexed_with_its_language(kb):
    files = {f["path"]: f for f in kb.files()}
    assert len(files) == 21
    assert all(not f["error"] and f["passages"] > 0 for f in files.values())
    languages = {path.split("/")[0]: f["language"] for path, f in files.items()}
    assert languages == {"en": "en", "es": "es", "de": "de", "fr": "fr", "ja": "ja"}


def test_language_comes_from_front_matter_then_suffix_then_detection(detector):
    text = "---\nlanguage: es\n---\n# Title\n\nThis body is written in English, oddly enough."
    assert parse_file("a.md", text.encode(), detector, 1200)[0].language == "es"
    body = "# Hilfe\n\nThis body is English but the name says German."
    assert parse_file("x/hilfe.de.md", body.encode(), detector, 1200)[0].language == "de"
    body = "# Ayuda\n\nPara cambiar la dirección de entrega, abre el pedido en la aplicación."
    assert parse_file("ayuda.md", body.encode(), detector, 1200)[0].language == "es"


def test_markdown_is_split_at_headings_within_the_size_bound(detector):
    long_section = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(10))
    code = "```\n" + "\n\n".join(f"line {i}" for i in range(20)) + "\n```"
    text = f"# Guide\n\nIntro.\n\n## Short\n\nShort section.\n\n## Long\n\n{long_section}\n\n" \
           f"## Code\n\n{code}\n"
    passages = parse_file("guide.md", text.encode(), detector, 500)
    headings = [p.heading for p in passages]
    assert headings[:2] == ["Guide", "Short"]
    assert headings.count("Long") >= 4
    assert all(len(p.text) <= 500 for p in passages)
    assert all(p.title == "Guide" for p in passages)
    code_passages = [p for p in passages if p.heading == "Code"]
    assert len(code_passages) == 1 and code_passages[0].text == code


def test_faq_and_text_files_are_parsed(detector):
    faq = "language: fr\nfaq:\n  - question: Où est mon colis ?\n    answer: Suivez le lien.\n"
    passages = parse_file("faq.yml", faq.encode(), detector, 1200)
    assert [(p.heading, p.language) for p in passages] == [("Où est mon colis ?", "fr")]
    text = "Opening hours\n\nWe answer from 9 to 17 on weekdays.\n\nClosed on Sundays."
    passages = parse_file("hours.txt", text.encode(), detector, 1200)
    assert passages[0].heading == "Opening hours" and "Sundays" in passages[0].text


HOLIDAYS = ("Our **Rotterdam** shop closes on [public holidays](https://kettlebird.example/h). "
            "Orders placed on a holiday ship the next working day.\n\n"
            "Gift wrapping is free during the holiday season.\n")


def test_a_file_without_headings_is_titled_by_its_first_sentence_never_its_name(
        tmp_path, knowledge_dir, detector):
    (knowledge_dir / "en" / "tbb-29.md").write_text(HOLIDAYS, encoding="utf-8")
    (knowledge_dir / "en" / "tormobile_1.txt").write_text(
        "🚚 ✈️\n\n----\n\n- The Tormobile delivery van reaches the islands of Texel, "
        "Vlieland, Terschelling, Ameland and Schiermonnikoog once a week, on Thursdays.\n",
        encoding="utf-8")
    base = KnowledgeBase(knowledge_dir, tmp_path / "k.db", detector)
    try:
        base.sync(full=True)
        holidays = base.search("Is the shop in Rotterdam closed on public holidays?", "en", 1)
        islands = base.search("Do you deliver to Texel or Vlieland?", "en", 1)
    finally:
        base.close()
    passage = holidays[0].passage
    assert passage.path == "en/tbb-29.md"
    # Markdown, a link and the full stop are gone; the customer's citation reads as a title.
    assert passage.title == passage.heading == "Our Rotterdam shop closes on public holidays"
    assert passage.source.label == "en/tbb-29.md › Our Rotterdam shop closes on public holidays"
    # The first line with words, its list marker gone, cut at a word within 80 characters.
    title = islands[0].passage.title
    assert islands[0].passage.path == "en/tormobile_1.txt"
    assert title == ("The Tormobile delivery van reaches the islands of Texel, Vlieland, "
                     "Terschelling…")
    assert len(title) <= 80 and islands[0].passage.heading == title
    for hit in holidays + islands:
        seen = f"{hit.passage.title} {hit.passage.heading} {hit.passage.source.label}"
        assert "Tbb" not in seen and "Tormobile 1" not in seen


def test_a_title_from_front_matter_wins_then_the_first_heading(detector):
    text = "---\ntitle: Holiday opening hours\n---\n# Holidays\n\nClosed on 25 December."
    assert {p.title for p in parse_file("tbb-29.md", text.encode(), detector, 1200)} == \
        {"Holiday opening hours"}
    text = "---\ntitle: Holiday opening hours\n---\nClosed on 25 December."
    passages = parse_file("tbb-29.txt", text.encode(), detector, 1200)
    assert [(p.title, p.heading) for p in passages] == [("Holiday opening hours",) * 2]
    # Without a title, a document opening with a section heading is titled by it.
    text = "## Returns\n\nSend it back within 30 days.\n\n## Refunds\n\nMoney back in a week."
    passages = parse_file("tbb-30.md", text.encode(), detector, 1200)
    assert [(p.title, p.heading) for p in passages] == [("Returns", "Returns"),
                                                         ("Returns", "Refunds")]
    # A FAQ's entries are titled by their questions, or by the title the file gives.
    faq = "- question: Do you ship on holidays?\n  answer: The next working day.\n"
    assert [p.title for p in parse_file("tbb-31.yaml", faq.encode(), detector, 1200)] == \
        ["Do you ship on holidays?"]
    faq = ("title: Holidays\nfaq:\n  - question: Do you ship on holidays?\n"
           "    answer: The next working day.\n")
    assert [p.title for p in parse_file("tbb-31.yaml", faq.encode(), detector, 1200)] == \
        ["Holidays"]


def test_an_index_titled_by_file_names_is_titled_again_on_upgrade(tmp_path, knowledge_dir,
                                                                  detector):
    (knowledge_dir / "en" / "tbb-29.md").write_text(HOLIDAYS, encoding="utf-8")
    db = tmp_path / "k.db"
    KnowledgeBase(knowledge_dir, db, detector).close()
    # The index as the previous babeldesk left it: passages titled by their file's name.
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM _sqlite_migrations "
                     "WHERE name = 'parse_again_for_titles_from_text'")
        conn.execute("ALTER TABLE passages DROP COLUMN title_from_text")
        conn.execute("INSERT INTO files (path, sha256, language, size, mtime_ns, passages) "
                     "VALUES ('en/tbb-29.md', ?, 'en', 0, 0, 1)",
                     [hashlib.sha256(HOLIDAYS.encode()).hexdigest()])
        conn.execute("INSERT INTO passages (path, title, heading, language, position, text, "
                     "terms, digest) VALUES ('en/tbb-29.md', 'Tbb 29', 'Tbb 29', 'en', 0, ?, "
                     "'tbb 29', '')", [HOLIDAYS])
    conn.close()
    base = KnowledgeBase(knowledge_dir, db, detector)
    try:
        base.sync()
        hits = base.search("Is the Rotterdam shop closed on public holidays?", "en", 1)
    finally:
        base.close()
    assert hits[0].passage.title == "Our Rotterdam shop closes on public holidays"


async def test_the_model_reads_titles_and_headings_and_customers_see_the_file_cited(
        write_config, knowledge_dir, scripted):
    """The model is never given a file's path or name: given "fr/depannage.md" it sent
    customers to "the file fr/depannage.md". The citation under the answer still names it."""
    (knowledge_dir / "en" / "tbb-29.md").write_text(HOLIDAYS, encoding="utf-8")
    core = open_core(write_config(), engine=scripted, watch=False)
    try:
        answer = await core.pipeline.respond(
            message("Is the Rotterdam shop closed on public holidays?"))
    finally:
        core.close()
    prompt = scripted.calls[-1][1][-1]["content"]
    assert "Our Rotterdam shop closes on public holidays\nOur **Rotterdam** shop" in prompt
    assert not re.search(r"[\w-]+\.(md|txt|ya?ml)\b", prompt), prompt
    assert "tbb" not in prompt.lower()
    assert "en/tbb-29.md › Our Rotterdam shop closes on public holidays" in \
        format_sources(answer, core.pipeline.texts)


@pytest.mark.parametrize("name, content, problem", [
    ("bad.yaml", b"- question: [unclosed\n", "not valid YAML"),
    ("bad.yml", b"just a string\n", "must be a list"),
    ("noanswer.yaml", b"- question: Where?\n", "has no answer"),
    ("front.md", b"---\nlanguage: [es\n---\n# T\n\nx", "front matter is not valid YAML"),
    ("open.md", b"---\nlanguage: es\n# never closed\n", "never ends"),
    ("binary.md", b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "not UTF-8"),
    ("lang.md", b"---\nlanguage: xx\n---\n# T\n\nbody", "not one of the configured"),
])
def test_a_broken_file_is_skipped_with_its_path_logged(tmp_path, knowledge_dir, detector,
                                                      caplog, name, content, problem):
    (knowledge_dir / name).write_bytes(content)
    base = KnowledgeBase(knowledge_dir, tmp_path / "k.db", detector)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.knowledge"):
            report = base.sync(full=True)
        assert problem in report.failed[name]
        assert str(knowledge_dir / name) in caplog.text
        assert len(report.added) == 21  # the rest is still served
        assert base.search("How do I reset my password?", "en", 1)
        assert {f["path"]: f["error"] for f in base.files()}[name]
    finally:
        base.close()


def test_start_up_reindexes_only_changed_files(tmp_path, knowledge_dir, detector):
    db = tmp_path / "k.db"
    base = KnowledgeBase(knowledge_dir, db, detector)
    assert len(base.sync(full=True).added) == 21
    base.close()

    page = knowledge_dir / "en" / "shipping.md"
    page.write_text(page.read_text() + "\n## Pickup\n\nCollect parcels in Rotterdam.\n")
    untouched = knowledge_dir / "en" / "billing.md"
    os.utime(untouched, (1, 1))  # a new time but the same content: no re-parse

    base = KnowledgeBase(knowledge_dir, db, detector)
    try:
        report = base.sync(full=True)
        assert report.updated == ["en/shipping.md"]
        assert report.added == [] and report.removed == []
        assert report.unchanged == 20
        assert base.search("Collect parcels in Rotterdam", "en", 1)[0].passage.heading == "Pickup"
    finally:
        base.close()


def test_files_added_edited_and_deleted_while_running_are_served(kb, knowledge_dir):
    kb.watch(interval=0.1)
    question = "How much does gift wrapping cost?"
    assert kb.search(question, "en", 1, 0.3) == []
    page = knowledge_dir / "new" / "deep" / "gift-wrapping.md"
    page.parent.mkdir(parents=True)
    page.write_text("# Gifts\n\n## Gift wrapping\n\nGift wrapping costs 3 EUR per kettle; "
                    "choose it at checkout.\n", encoding="utf-8")

    def top(question):
        hits = kb.search(question, "en", 1, 0.3)
        return hits[0].passage if hits else None

    assert wait_until(lambda: top(question) is not None)
    assert top(question).path == "new/deep/gift-wrapping.md"

    page.write_text(page.read_text().replace("3 EUR", "5 EUR"), encoding="utf-8")
    assert wait_until(lambda: "5 EUR" in top(question).text)

    page.unlink()
    assert wait_until(lambda: top(question) is None)
    assert "new/deep/gift-wrapping.md" not in [f["path"] for f in kb.files()]


def test_chinese_and_japanese_are_searchable(kb, knowledge_dir):
    (knowledge_dir / "zh").mkdir()
    (knowledge_dir / "zh" / "refunds.md").write_text(
        "---\nlanguage: zh\n---\n# 退款\n\n## 申请退款\n\n收货后三十天内可以申请退款。"
        "请在订单页面点击申请退款。\n", encoding="utf-8")
    kb.sync()
    hit = kb.search("怎么申请退款？", "zh", 1, 0.3)[0]
    assert hit.passage.path == "zh/refunds.md"
    hit = kb.search("返金を申請するにはどうすればいいですか", "ja", 1, 0.3)[0]
    assert hit.passage.path == "ja/billing.md"


@pytest.mark.parametrize("question, language", [
    ("What is the capital of Mongolia?", "en"),
    ("How do I bake a chocolate cake?", "en"),
    ("¿Quién ganó el mundial de fútbol?", "es"),
    ("Wer hat die Fußball-WM 2014 gewonnen?", "de"),
])
def test_unrelated_questions_fall_below_the_relevance_threshold(kb, question, language):
    assert kb.search(question, language, 3, Config().retrieval.min_relevance) == []


@pytest.mark.parametrize("question, language, path", [
    ("How do I reset my password?", "en", "en/"),
    ("¿Cómo puedo restablecer mi contraseña?", "es", "es/cuenta.md"),
    ("Le voyant clignote en rouge", "fr", "fr/depannage.md"),
    ("Mein Wasserkocher verbindet sich nicht mit dem WLAN", "de", "de/fehlerbehebung.de.md"),
    ("パスワードを再設定するには？", "ja", "ja/account.md"),
    # "How do I … my" must not pull up every FAQ question that starts the same way.
    ("How do I descale my kettle?", "en", "en/troubleshooting.md"),
])
def test_related_questions_pass_the_threshold(kb, question, language, path):
    hits = kb.search(question, language, 3, Config().retrieval.min_relevance)
    assert hits and hits[0].passage.path.startswith(path)


def test_changing_chunk_size_rebuilds_the_index(tmp_path, knowledge_dir, detector):
    db = tmp_path / "k.db"
    base = KnowledgeBase(knowledge_dir, db, detector, chunk_chars=1200)
    base.sync(full=True)
    count = base.passage_count()
    base.close()
    base = KnowledgeBase(knowledge_dir, db, detector, chunk_chars=300)
    try:
        assert len(base.sync(full=True).added) == 21
        assert base.passage_count() > count
    finally:
        base.close()


def test_a_knowledge_folder_that_disappears_keeps_its_index(kb, knowledge_dir, caplog):
    """An unmounted volume or a folder that cannot be read must not empty the index."""
    before = kb.passage_count()
    hidden = knowledge_dir.with_name("knowledge-away")
    knowledge_dir.rename(hidden)
    with caplog.at_level(logging.ERROR, logger="bot.knowledge"):
        report = kb.sync()
        kb.sync()
    assert not report.removed and kb.passage_count() == before
    assert kb.search("How do I reset my password?", "en", 3, 0.1)
    lines = [r.getMessage() for r in caplog.records
             if "cannot read the folder" in r.getMessage()]
    assert len(lines) == 1 and str(knowledge_dir) in lines[0]
    hidden.rename(knowledge_dir)
    (knowledge_dir / "en" / "new.md").write_text("# Gift cards\n\nGift cards never expire.\n")
    report = kb.sync()
    assert report.added == ["en/new.md"] and not report.removed


def test_term_counts_follow_edits_without_a_recount(kb, knowledge_dir):
    """After files are added, edited and deleted, the incrementally kept document frequencies
    equal a count from scratch (which takes seconds on a large index)."""
    kb.search("How do I reset my password?", "en", 3)  # counted once here
    (knowledge_dir / "en" / "gift-cards.md").write_text("# Gift cards\n\nThey never expire.\n")
    account = knowledge_dir / "en" / "account.md"
    account.write_text(account.read_text(encoding="utf-8").replace("password", "passphrase"),
                       encoding="utf-8")
    (knowledge_dir / "en" / "shipping.md").unlink()
    report = kb.sync()
    assert report.added and report.updated and report.removed
    kept = kb.keywords.frequencies()
    kept_lengths, kept_sum = kb.keywords.lengths.copy(), kb.keywords.length_sum
    kb.keywords.forget()
    fresh = kb.keywords.frequencies()
    assert kept[0] == fresh[0]
    assert kept_sum == kb.keywords.length_sum
    assert np.array_equal(np.trim_zeros(kept_lengths, "b"),
                          np.trim_zeros(kb.keywords.lengths, "b"))
    assert {scope: dict(c) for scope, c in kept[1].items() if c} == \
        {scope: dict(c) for scope, c in fresh[1].items() if c}
    assert kb.search("gift cards expire", "en", 1)[0].passage.path == "en/gift-cards.md"


def test_an_index_changed_by_another_process_is_read_again(kb, knowledge_dir, detector,
                                                          tmp_path):
    """`babeldesk index` beside a running babeldesk: the server's term counts and passage
    lengths follow the other process's edit instead of going stale."""
    kb.search("How do I reset my password?", "en", 3)  # counted once here
    other = KnowledgeBase(knowledge_dir, tmp_path / "data" / "knowledge.db", detector)
    try:
        account = knowledge_dir / "en" / "account.md"
        account.write_text(account.read_text(encoding="utf-8") + "\n## Gift cards\n\n"
                           "Gift cards never expire and work for every order.\n",
                           encoding="utf-8")
        (knowledge_dir / "en" / "shipping.md").unlink()
        assert other.sync().updated == ["en/account.md"]
    finally:
        other.close()
    hits = kb.search("gift cards expire", "en", 1)
    assert hits and hits[0].passage.heading == "Gift cards"
    kept = kb.keywords.frequencies()
    lengths, total = kb.keywords.lengths.copy(), kb.keywords.length_sum
    kb.keywords.forget()
    assert kb.keywords.frequencies()[0] == kept[0] and kb.keywords.length_sum == total
    assert np.array_equal(np.trim_zeros(lengths, "b"), np.trim_zeros(kb.keywords.lengths, "b"))
    assert kb.sync().changed is False  # the other process's work is not done again


@pytest.mark.parametrize("question", [
    "How do I reset my password?", "password account locked email", "refund",
    "¿Cuánto tarda el envío?", "Wie kann ich eine Rückerstattung bekommen?", "返金できますか",
    "पासवर्ड कैसे बदलें", "เปลี่ยนรหัสผ่าน", "kettle kettle descale limescale water"])
def test_keyword_candidates_rank_as_fts5_does(tmp_path, knowledge_dir, detector, question):
    """babeldesk works BM25 out from FTS5's lists of where each term occurs; the order and the
    scores must be FTS5's own, for Hindi and Thai terms (which FTS5 holds as several tokens)
    as for the others."""
    extra = knowledge_dir
    (extra / "hi.md").write_text("# पासवर्ड\n\nअपना पासवर्ड बदलें: सेटिंग्स खोलें और पासवर्ड बदलें चुनें।\n"
                                 "\n## खाता\n\nखाता लॉक होने पर ईमेल देखें।\n", encoding="utf-8")
    (extra / "th.md").write_text("# รหัสผ่าน\n\nเปลี่ยนรหัสผ่านได้ที่การตั้งค่า เปลี่ยนรหัสผ่านทุกสามเดือน\n",
                                 encoding="utf-8")
    base = KnowledgeBase(extra, tmp_path / "knowledge.db", detector)
    try:
        base.sync(full=True)
        base.keywords.frequencies()
        terms = list(dict.fromkeys(search_terms(question)))
        ours = base.keywords.candidates(terms)
        query = " OR ".join(f'"{t}"' for t in terms)
        theirs = base.db.execute("SELECT rowid, rank FROM passages_fts WHERE passages_fts MATCH ? "
                                 "ORDER BY rank, rowid LIMIT ?", [query, CANDIDATES]).fetchall()
    finally:
        base.close()
    assert theirs, "the question must match something"
    assert [pid for pid, _ in ours] == [pid for pid, _ in theirs]
    assert [score for _, score in ours] == pytest.approx([rank for _, rank in theirs], rel=1e-3)
