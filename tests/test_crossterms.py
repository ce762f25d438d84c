"""Chinese questions' words in English, for keyword search over English articles."""

from bot.crossterms import dictionary, english_terms
from bot.text import search_terms


def known(text: str) -> dict[str, int]:
    return {term: 1 for term in search_terms(text)}


ARTICLES = known("Reset your password. How long does delivery take? The warranty lasts two "
                 "years. What does the blinking red light mean? Request a refund.")


def test_the_dictionary_ships_with_babeldesk():
    words = dictionary()
    assert len(words) > 100_000
    assert "password" in words["密码"]


def test_chinese_words_become_the_english_terms_the_articles_use():
    assert english_terms("如何重置密码？", ARTICLES) == {"reset": 1.0, "passwo": 1.0}
    assert set(english_terms("送货需要多长时间？", ARTICLES)) == {"delive"}
    # A word with several translations shares its weight among those the articles use.
    assert english_terms("红灯闪烁是什么意思？", ARTICLES) == {"red": 0.5, "light": 0.5}


def test_only_terms_the_articles_use_and_only_for_chinese():
    assert english_terms("如何重置密码？", known("delivery")) == {}
    assert english_terms("How do I reset my password?", ARTICLES) == {}
    assert english_terms("パスワードをリセットするには？", ARTICLES) == {}
