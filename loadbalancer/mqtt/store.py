"""The newest payload of each topic, waiting for the publisher: the control step puts, the
MQTT task takes. Never a queue: a topic put again before it went out keeps only its newest
payload, so however long the broker is away the store holds at most one payload per topic
(and refuses topics beyond ``max_topics``: the site's topics are a fixed set).
"""

from __future__ import annotations

import asyncio


class LatestStore:
    """Per topic the newest payload, which topics still have to go out, and what went out."""

    def __init__(self, max_topics: int) -> None:
        self.max_topics = max_topics
        self._latest: dict[str, bytes] = {}
        self._sent: dict[str, bytes] = {}
        #: topics whose newest payload has not gone out (in the order they changed)
        self._pending: dict[str, None] = {}
        #: puts refused because the store already holds ``max_topics`` topics
        self.refused = 0
        #: messages that went out
        self.messages_sent = 0
        self.changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._latest)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def put(self, topic: str, payload: bytes) -> None:
        """``payload`` is the newest for ``topic``; it goes out unless it went out already.
        Never blocks, never waits on the broker."""
        if topic not in self._latest and len(self._latest) >= self.max_topics:
            self.refused += 1
            return
        self._latest[topic] = payload
        if self._sent.get(topic) == payload:
            self._pending.pop(topic, None)
            return
        self._pending[topic] = None
        self.changed.set()

    def latest(self, topic: str) -> bytes | None:
        return self._latest.get(topic)

    def take(self) -> tuple[str, bytes] | None:
        """The oldest change still to go out (None: all out); :meth:`sent` once it went."""
        for topic in self._pending:
            del self._pending[topic]
            return topic, self._latest[topic]
        self.changed.clear()
        return None

    def sent(self, topic: str, payload: bytes) -> None:
        self._sent[topic] = payload
        self.messages_sent += 1

    def failed(self, topic: str) -> None:
        """``topic``'s payload did not go out: it goes out again (its newest) later."""
        if self._sent.get(topic) != self._latest.get(topic):
            self._pending[topic] = None

    def resend(self, topics: list[str] | None = None) -> None:
        """After a new connection (a broker may have lost its retained messages) or Home
        Assistant's restart: ``topics`` (all by default) go out again."""
        for topic in self._latest if topics is None else topics:
            if topic in self._latest:
                self._sent.pop(topic, None)
                self._pending[topic] = None
        if self._pending:
            self.changed.set()
