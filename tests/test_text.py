"""Splitting long text at chat platforms' limits."""

from __future__ import annotations

import re

import pytest

from bot.text import function_words, search_terms, split_message, stop_terms


def test_short_text_is_one_piece():
    assert split_message("Hello there.\n\nSecond paragraph.", 2000) == [
        "Hello there.\n\nSecond paragraph."]


@pytest.mark.parametrize("limit", [2000, 3000])
def test_long_text_is_cut_between_paragraphs_and_sentences(limit):
    sentence = "The refund reaches your card within five to ten business days. "
    text = "\n\n".join(sentence * 12 for _ in range(20))
    pieces = split_message(text, limit)
    assert len(pieces) > 1
    assert all(len(p) <= limit for p in pieces)
    assert all(p.rstrip().endswith(".") for p in pieces)
    assert re.sub(r"\s+", " ", " ".join(pieces)).strip() == re.sub(r"\s+", " ", text).strip()


def test_a_code_block_is_never_broken_open():
    code = "```python\n" + "\n".join(f"print({i})  # line {i}" for i in range(300)) + "\n```"
    text = f"Run this:\n\n{code}\n\nThen restart the kettle."
    pieces = split_message(text, 2000)
    assert all(len(p) <= 2000 for p in pieces)
    for piece in pieces:
        assert piece.count("```") % 2 == 0, piece[:80]
    joined = "\n".join(pieces)
    assert all(f"print({i})" in joined for i in range(300))
    assert pieces[0].startswith("Run this:")
    assert pieces[-1].endswith("Then restart the kettle.")


def test_a_small_code_block_moves_whole_to_the_next_piece():
    prose = "Words and more words. " * 80
    code = "```\nline one\n\nline three after a blank\n```"
    pieces = split_message(f"{prose}\n\n{code}", len(prose) + 10)
    assert pieces[-1] == code


def test_a_word_longer_than_the_limit_is_cut():
    pieces = split_message("x" * 4500, 2000)
    assert [len(p) for p in pieces] == [2000, 2000, 500]


def test_japanese_sentences_are_kept_whole():
    text = "返金は三十日以内に申請できます。" * 200
    pieces = split_message(text, 2000)
    assert all(len(p) <= 2000 and p.endswith("。") for p in pieces)


def test_search_terms_are_letters_digits_and_marks_only():
    """The index takes each term as one token: folding must not bring punctuation into one
    ("⑴" decomposes to "(1)", "⒈" to "1.")."""
    from bot.text import search_terms

    assert search_terms("⑴ 手順 ⒈ Café") == ["1", "手順", "1", "cafe"]
    assert search_terms("पासवर्ड बदलें") == ["पासवर्", "बदलें"]  # vowel signs stay in the word


def test_digits_of_every_script_are_searched_as_ascii_digits():
    """Arabic-Indic, Persian, Devanagari, Thai (inside a Thai run, which is otherwise cut
    into character pairs) and fullwidth digits are the number an article writes in ASCII."""
    assert search_terms("خلال ١٤ يومًا") == ["خلال", "14", "يومًا"]
    assert search_terms("۳۰ روز") == ["30", "روز"]
    assert search_terms("३० दिन") == ["30", "दिन"]
    assert search_terms("ภายใน๓๐วัน") == ["ภา", "าย", "ยใ", "ใน", "30", "วั", "ัน"]
    assert search_terms("エラー４０４") == ["エラ", "ラー", "404"]


def test_stop_terms_are_single_function_words_not_the_words_of_listed_phrases():
    vietnamese = stop_terms("vi")
    # "bắt đầu từ", "nhân tiện" and "dần dần" are phrases in the list; "đầu", "tiên" and "dân"
    # alone are topic words of many questions.
    for word in ("đầu", "tiên", "dân"):
        assert search_terms(word)[0] not in vietnamese, word
    for word in ("của", "các", "là", "và"):
        assert search_terms(word)[0] in vietnamese, word
    assert {"the", "how"} <= stop_terms("en")


def test_function_words_are_single_words_and_languages_without_a_list_have_none():
    greek = function_words("el")
    assert "και" in greek and list(greek) == sorted(greek)
    assert not any(ch.isspace() for word in function_words("vi") for ch in word)
    assert function_words("xx") == () and function_words(None) == ()
