"""The knowledge folder: parsed into passages, indexed with SQLite FTS5 and multilingual
embeddings, kept in step with edits.

A support team edits Markdown, text and FAQ files; babeldesk notices within a second or two and
serves the new content with no restart. Only files whose content changed are parsed again, and
only passages whose text changed are embedded again.

The parts, one concern each: `parse` (reading and parsing files), `migrations` (the index's
schema), `sync` (the folder and the index in step), `keywords` (BM25), `vectors` (storing
and computing embeddings), `dense` (search by meaning), `search` (fusion and the relevance
gate), `base` (KnowledgeBase, which puts them together). Tuned constants are read from the
part that uses them: patch them there (e.g. bot.knowledge.dense.CENTRE_WEIGHT).
"""

from .base import KnowledgeBase
from .dense import dense_relevance, embedding_text
from .keywords import CANDIDATES
from .parse import (MAX_FILE_BYTES, SUFFIXES, ParseError, Refused, parse_file,
                    read_knowledge_file)
from .types import Hit, Passage, Source, SyncReport
from .vectors import VectorTable

__all__ = ["CANDIDATES", "MAX_FILE_BYTES", "SUFFIXES", "Hit", "KnowledgeBase", "ParseError",
           "Passage", "Refused", "Source", "SyncReport", "VectorTable", "dense_relevance",
           "embedding_text", "parse_file", "read_knowledge_file"]
