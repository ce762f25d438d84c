"""Who may talk to babeldesk on a chat platform, and how often.

Each platform's settings include `Access` (rates, allow and block lists); `Gate` applies them to
every incoming message before anything is generated, so one person or one busy channel cannot
take the model from everyone else.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

from bot.config import check


class RateLimit:
    """At most `per_minute` questions from one client in any 60 seconds."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._times: dict[str, collections.deque[float]] = {}

    def wait(self, client: str, now: float) -> float:
        """Seconds until `client` may ask again; 0 when it may now."""
        if not self.per_minute:
            return 0.0
        times = self._times.get(client)
        if times is None:
            if len(self._times) > 10000:  # forget clients quiet for a minute
                self._times = {k: v for k, v in self._times.items() if v and v[-1] > now - 60}
            times = self._times[client] = collections.deque()
        while times and times[0] <= now - 60:
            times.popleft()
        return times[0] + 60 - now if len(times) >= self.per_minute else 0.0

    def record(self, client: str, now: float) -> None:
        if self.per_minute:
            self._times[client].append(now)


@dataclass(frozen=True)
class Access:
    """The keys every chat platform's settings share (`adapters.<name>.…`)."""

    #: messages one person may send babeldesk per minute; beyond, one polite notice, then
    #: silence until the minute has passed (0: no limit)
    user_rate: int = 10
    #: messages babeldesk answers per minute in one channel (0: no limit)
    channel_rate: int = 60
    #: user ids babeldesk answers; empty: everyone (but `block_users`)
    allow_users: list[str] = field(default_factory=list)
    #: user ids babeldesk never answers
    block_users: list[str] = field(default_factory=list)
    #: channel ids babeldesk answers in (DMs aside); empty: every channel it is in
    allow_channels: list[str] = field(default_factory=list)

    def validate_access(self, key: str) -> None:
        check(self.user_rate >= 0, f"{key}.user_rate", "must be 0 (no limit) or more")
        check(self.channel_rate >= 0, f"{key}.channel_rate", "must be 0 (no limit) or more")
        for name in ("allow_users", "block_users", "allow_channels"):
            for i, value in enumerate(getattr(self, name)):
                check(value.strip() != "", f"{key}.{name}[{i}]", "must not be empty")


class Gate:
    """Decides, for each incoming message, whether babeldesk answers it."""

    def __init__(self, access: Access):
        self.access = access
        self.users = RateLimit(access.user_rate)
        self.channels = RateLimit(access.channel_rate)
        #: people told to slow down, until when: one notice per minute, not one per message
        self._told: dict[str, float] = {}

    def allows(self, user: str, channel: str, direct: bool, roles: set[str] = frozenset(),
               allow_roles: list[str] = (), block_roles: list[str] = ()) -> bool:
        """The allow and block lists: a message they refuse gets no answer and no notice."""
        a = self.access
        if user in a.block_users or roles & set(block_roles):
            return False
        if (a.allow_users or allow_roles) and user not in a.allow_users \
                and not roles & set(allow_roles):
            return False
        return direct or not a.allow_channels or channel in a.allow_channels

    def admit(self, user: str, channel: str, now: float | None = None) -> str:
        """"answer", "notify" (over a rate: say so once) or "quiet" (told already)."""
        now = time.monotonic() if now is None else now
        if self.users.wait(user, now) or self.channels.wait(channel, now):
            if self._told.get(user, 0) > now:
                return "quiet"
            if len(self._told) > 10000:
                self._told = {k: v for k, v in self._told.items() if v > now}
            self._told[user] = now + 60
            return "notify"
        self.users.record(user, now)
        self.channels.record(channel, now)
        return "answer"
