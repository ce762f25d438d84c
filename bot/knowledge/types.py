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
    #: the title is the file's first sentence (it has no title or heading of its own): shown
    #: to readers like a title, but searched as the text it comes from
    title_from_text: bool = False

    @property
    def source(self) -> Source:
        return Source(self.path, self.heading, self.title)

    @property
    def named(self) -> tuple[str, str]:
        """The title and heading that search takes as naming the passage's topic. A title
        taken from the text, and the heading it stands in for, are left out: the text holds
        that sentence already, and counting it again put the right paragraph first less often
        (docs/performance.md, after "Every ranker earns its place")."""
        if not self.title_from_text:
            return self.title, self.heading
        return "", "" if self.heading == self.title else self.heading


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
