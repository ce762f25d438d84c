"""`babeldesk eval`: the example questions file, a miss, an invalid file."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import yaml
from helpers import ROOT
from test_cli import babeldesk

from bot.evaluate import QuestionsError, load_questions
from bot.language import LanguageDetector

EXAMPLE = ROOT / "questions.yaml"


def write_questions(tmp_path, questions, name="questions.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"questions": questions}, allow_unicode=True),
                    encoding="utf-8")
    return path


def test_the_example_file_reports_the_right_counts(config, tmp_path):
    out = tmp_path / "eval.json"
    result = babeldesk(config, "eval", str(EXAMPLE), "--no-answers", "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    entries = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["questions"]
    records = data["questions"]
    assert [r["question"] for r in records] == [e["question"] for e in entries]

    # Questions per language: as written in the file, else as detected in the question.
    detector = LanguageDetector(config.languages, config.default_language)
    expected = Counter(e.get("language") or detector.detect(e["question"]).language
                       for e in entries)
    languages = data["summary"]["languages"]
    assert {lang: s["questions"] for lang, s in languages.items()} == expected
    assert {"en", "es", "de", "fr", "ja", "it", "pt"} <= set(expected)

    # The summary adds up the per-question records.
    for lang, summary in [*languages.items(), ("all", data["summary"]["all"])]:
        mine = [r for r in records if lang in ("all", r["language"])]
        answerable = [r for r in mine if not r["should_abstain"]]
        assert summary["answerable"] == len(answerable)
        assert summary["hit@1"] == sum(r["hit@1"] for r in mine) == \
            sum(r["rank"] == 1 for r in answerable)
        assert summary["hit@3"] == sum(r["hit@3"] for r in mine)
        assert summary["abstained"] == sum(r["abstained"] for r in mine)
        assert summary["wrong_language"] is None  # not measured without answers
    total = data["summary"]["all"]
    assert total["questions"] == len(entries)
    # The example passes: every answerable question is found in the top three.
    assert total["hit@3"] == total["answerable"] == sum(1 for e in entries if e.get("expect"))

    # The questions the knowledge should not answer are the abstentions, and only they.
    should_abstain = [i for i, e in enumerate(entries, start=1) if not e.get("expect")]
    assert 2 <= len(should_abstain) <= 3
    assert [r["number"] for r in records if r["abstained"]] == should_abstain
    assert [r["number"] for r in records if r["should_abstain"]] == should_abstain
    assert data["unanswered"] == data["should_have_abstained"] == []
    assert data["unexpected_abstentions"] == data["wrong_language"] == []
    assert data["passed"] is True and data["answers"] is False

    # The same figures as a table.
    all_row = next(line for line in result.stdout.splitlines() if line.startswith("all "))
    assert all_row.split() == ["all", str(len(entries)), f"{total['hit@1']}/{total['answerable']}",
                               f"{total['hit@3']}/{total['answerable']}",
                               f"0/{total['answerable']}", f"0/{len(should_abstain)}",
                               "-", "-", "-", "-"]  # answers are judged only with answers
    assert "questions nothing answers: none" in result.stdout
    assert "all as expected" in result.stdout


def test_a_question_its_expected_file_does_not_answer_is_unanswered(config, tmp_path):
    questions = write_questions(tmp_path, [
        {"question": "How do I reset my password?", "expect": ["en/account.md", "en/faq.yaml"]},
        {"question": "How do I reset my password?", "expect": "en/shipping.md"},
        {"question": "What is the capital of Mongolia?", "expect": None},
    ])
    result = babeldesk(config, "eval", str(questions), "--no-answers", "--json", "-")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)  # only the JSON on standard output
    assert data["passed"] is False
    assert data["unanswered"] == [2]
    assert [r["hit@3"] for r in data["questions"]] == [True, False, False]
    assert data["questions"][1]["retrieved"] and data["questions"][1]["rank"] is None
    assert data["questions"][2]["abstained"] is True
    assert data["summary"]["all"] == {"questions": 3, "answerable": 2, "hit@1": 1, "hit@3": 1,
                                      "abstained": 1, "declined": 0, "off_topic": 1,
                                      "off_topic_answered": 0, "wrong_language": None,
                                      "check_failed": 0, "quoted": 0, "foreign_numbers": 0,
                                      "missing_facts": 0}
    table = babeldesk(config, "eval", str(questions), "--no-answers")
    assert table.returncode == 1
    assert "questions nothing answers: 1\n  #2 [en] 'How do I reset my password?': " \
           "expected en/shipping.md; retrieved en/" in table.stdout


@pytest.mark.parametrize("entries, message", [
    ([{"question": "How do I reset my password?", "expect": "en/account.md"},
      {"expect": "en/billing.md"}], "entry 2: has no question"),
    ([{"question": "Refund?", "expected": "en/billing.md"}], "entry 1: unknown key 'expected'"),
    ([{"question": "Refund?", "expect": []}], "entry 1: expect is an empty list"),
    ([{"question": "Refund?", "language": "xx"}], "entry 1: language 'xx' is not one of"),
])
def test_an_invalid_questions_file_is_one_clear_line(config, tmp_path, entries, message):
    questions = write_questions(tmp_path, entries)
    result = babeldesk(config, "eval", str(questions), "--no-answers")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"babeldesk: {questions}: {message}")


def test_an_expected_file_or_heading_that_is_not_in_the_knowledge(config, tmp_path):
    questions = write_questions(tmp_path, [
        {"question": "How do I reset my password?", "expect": "en/acount.md"}])
    result = babeldesk(config, "eval", str(questions), "--no-answers")
    assert result.returncode == 2
    assert "entry 1: expect: en/acount.md is not a file in the knowledge folder" in \
        result.stderr
    questions = write_questions(tmp_path, [
        {"question": "How do I reset my password?", "expect": "en/account.md › Reset it"}])
    result = babeldesk(config, "eval", str(questions), "--no-answers")
    assert result.returncode == 2
    assert "entry 1: expect: en/account.md has no heading 'Reset it'" in result.stderr


def test_the_ways_of_writing_expect(tmp_path):
    path = write_questions(tmp_path, [
        {"question": "a", "expect": "en/billing.md › Request a refund"},
        {"question": "b", "expect": {"file": "./en/billing.md", "heading": "Warranty"}},
        {"question": "c", "expect": ["en/faq.yaml", "en/billing.md"], "language": "IT"},
        {"question": "d", "expect": None},
        {"question": "e"},
        {"question": "f", "expect": "en/shipping.md > Track your parcel"},
    ])
    a, b, c, d, e, f = load_questions(path, ["en", "it"])
    assert [(x.file, x.heading) for x in a.expect] == [("en/billing.md", "Request a refund")]
    assert [(x.file, x.heading) for x in b.expect] == [("en/billing.md", "Warranty")]
    assert [x.file for x in c.expect] == ["en/faq.yaml", "en/billing.md"]
    assert c.language == "it" and a.language is None
    assert d.should_abstain and e.should_abstain and not a.should_abstain
    assert f.expect[0].label == "en/shipping.md › Track your parcel"
    path.write_text("- just a question\n", encoding="utf-8")
    with pytest.raises(QuestionsError, match="entry 1: 'just a question' is not a mapping"):
        load_questions(path, ["en"])
    path.write_text("questions: [\n", encoding="utf-8")
    with pytest.raises(QuestionsError, match="not valid YAML"):
        load_questions(path, ["en"])
    with pytest.raises(QuestionsError, match="no such file"):
        load_questions(tmp_path / "missing.yaml", ["en"])


@pytest.fixture
def model_config(write_config, model_path):
    return write_config(model={"source": "path", "path": str(model_path)})


@pytest.mark.model
def test_answers_are_checked_for_their_language_and_abstentions(model_config, tmp_path):
    questions = write_questions(tmp_path, [
        {"question": "¿Cuánto tarda el envío?", "expect": "es/envios.md"},
        {"question": "保証期間はどのくらいですか？", "expect": "ja/billing.md › 製品保証",
         "must_contain": "2年"},
        {"question": "What is the capital of Mongolia?"},
    ])
    result = babeldesk(model_config, "eval", str(questions), "--json", "-")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["passed"] is True and data["answers"] is True
    es, ja, none = data["questions"]
    for record, language in ((es, "es"), (ja, "ja")):
        assert record["kind"] == "answer" and record["answer"]
        assert record["language"] == record["answer_language"] == language
        assert record["wrong_language"] is False and record["hit@1"] is True
        assert record["sources"]
        # Whatever the model wrote, what was sent passed the answer check or is the
        # article's own words; its numbers are the passages'.
        assert record["check_passed"] is True or record["origin"] in ("quoted", "translated")
        assert record["foreign_numbers"] == [] and record["missing"] == []
    assert ja["must_contain"] == ["2年"]
    assert none["kind"] == "abstained" and none["abstained"] is True
    assert none["answer"].startswith("I couldn't find this")
    assert data["summary"]["all"]["wrong_language"] == 0
    # The evaluation's conversations are not kept in the history.
    from bot.core import open_history

    history = open_history(model_config)
    try:
        assert history.db["turns"].count == 0
    finally:
        history.close()


def test_several_files_and_json_lines_make_one_table(config, tmp_path):
    """Answerable questions from a translation export (JSON Lines, `lang`) and off-topic ones
    from YAML, as for F-Droid's FAQ: declines and off-topic answers per language."""
    lines = tmp_path / "questions.jsonl"
    lines.write_text("\n".join(json.dumps(entry, ensure_ascii=False) for entry in [
        {"lang": "en", "question": "How do I reset my password?", "expect": "en/account.md"},
        {"lang": "es", "question": "¿Cómo restablezco mi contraseña?",
         "expect": "es/cuenta.md"}]) + "\n\n", encoding="utf-8")
    offtopic = write_questions(tmp_path, [
        {"question": "What is the capital of Mongolia?", "language": "en"}], "offtopic.yaml")
    result = babeldesk(config, "eval", str(lines), str(offtopic), "--no-answers", "--json", "-")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert [r["number"] for r in data["questions"]] == [1, 2, 3]
    assert [r["language"] for r in data["questions"]] == ["en", "es", "en"]
    assert data["summary"]["languages"]["en"]["off_topic"] == 1
    assert data["summary"]["all"]["declined"] == data["summary"]["all"]["off_topic_answered"] == 0
    table = babeldesk(config, "eval", str(lines), str(offtopic), "--no-answers").stdout
    header = table.splitlines()[0].split("  ")
    assert [h.strip() for h in header if h.strip()] == [
        "language", "questions", "hit@1", "hit@3", "declined", "off-topic answered",
        "wrong language", "check failed", "quoted", "missing facts"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "Hi?"}\n{not json\n', encoding="utf-8")
    refused = babeldesk(config, "eval", str(broken), "--no-answers")
    assert refused.returncode == 2 and f"{broken}: line 2: not valid JSON" in refused.stderr
