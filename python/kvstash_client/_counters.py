"""Counters: the thread-safe cumulative counters of the engine connectors."""

from __future__ import annotations

import threading
from dataclasses import fields


class Counters:
    """Subclass as a @dataclass whose fields are the counters (ints, starting at 0).

    An engine calls a connector from several threads at once (prefetch and backup threads,
    I/O workers): add() and snapshot() take one lock."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, **deltas: int) -> None:
        """Adds each delta to the counter of that name."""
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def snapshot(self) -> dict[str, int]:
        """Every counter by name, read under the lock."""
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
