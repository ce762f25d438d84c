"""What the knowledge index hands out: passages, where they come from, search hits, and what a
sync did."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """Where an answer came from: a knowledge file and the heading in it."""

    path: str
    heading: str
    title: str = ""

    @property
    def label(self) -> str:
        return f"{self.path} › {self.heading}" if self.heading else self.path

    def to_dict(self) -> dict:
        return {"path": self.path, "heading": self.heading, "title": self.title}


@dataclass(frozen=True)
class Passage:
    path: str
    title: str
    heading: str
    language: str
    text: str

    @property
    def source(self) -> Source:
        return Source(self.path, self.heading, self.title)


@dataclass(frozen=True)
class Hit:
    passage: Passage
    #: share of the question's weighted terms found in the passage, 0..1
    relevance: float


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    #: passage texts embedded by this sync
    embedded: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.failed)
