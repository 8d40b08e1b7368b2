"""Sign-in attempts: failures per user name and per address, and how many password
checks run at once.

A password check is argon2id: about 64 MiB and tens of milliseconds of a core, on
purpose. Unbounded, a flood of sign-in posts (unknown names check a decoy hash, so
they cost the same) would take the memory and every core; so at most :data:`CHECKS`
run at once and the rest are told the service is busy (:class:`Busy`) instead of
queueing. Failures are counted per name (guessing one person's password stays slow)
and per address (one caller cannot cheaply lock many people out by their names).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from serving.auth.records import verify_password

__all__ = ["CHECKS", "Attempts", "Busy", "Throttle"]

CHECKS = 2
"""Password checks at once per process."""


class Busy(Exception):
    """:data:`CHECKS` password checks run already: try again in a moment."""


class Throttle:
    """Failed sign-ins per key (a user name, or an address): after ``limit`` of them
    within ``window`` seconds the key is refused until the oldest is older than that."""

    def __init__(
        self, limit: int = 5, window: float = 900.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, deque[float]] = {}

    def refused(self, name: str) -> bool:
        """Whether ``name`` may not try now."""
        return len(self._recent(name)) >= self.limit

    def failed(self, name: str) -> None:
        """Count one failure of ``name``."""
        if len(self._failures) > 10_000:  # keys are the caller's: keep the dict bounded
            for stale in [n for n in self._failures if not self._recent(n)]:
                del self._failures[stale]
        self._failures.setdefault(name, deque()).append(self.clock())

    def succeeded(self, name: str) -> None:
        """Forget ``name``'s failures."""
        self._failures.pop(name, None)

    def _recent(self, name: str) -> deque[float]:
        found = self._failures.get(name, deque())
        while found and self.clock() - found[0] > self.window:
            found.popleft()
        return found


class Attempts:
    """The sign-in attempts of one process: their throttles and password checks."""

    def __init__(self, checks: int = CHECKS, per_name: int = 5, per_address: int = 20) -> None:
        self.names = Throttle(limit=per_name)
        self.addresses = Throttle(limit=per_address)
        self.checks = asyncio.Semaphore(checks)

    def held(self, name: str, address: str) -> str | None:
        """Why ``name`` may not sign in from ``address`` now (too many failures), if so."""
        if self.addresses.refused(address):
            return "Too many failed sign-ins from this address: try again later."
        if self.names.refused(name):
            return "Too many failed sign-ins for this name: try again in 15 minutes."
        return None

    def count(self, name: str, address: str, ok: bool) -> None:
        """One attempt's result: a failure counts for the name and the address; a success
        forgets the name's only (one known password must not wipe an address's record)."""
        if ok:
            self.names.succeeded(name)
            return
        self.names.failed(name)
        self.addresses.failed(address)

    async def verify(self, hashed: str, password: str) -> bool:
        """Whether ``password`` matches ``hashed``, checked off the event loop; :class:`Busy`
        without checking while :data:`CHECKS` checks run already."""
        if self.checks.locked():
            raise Busy
        async with self.checks:  # free a line above, so this takes it without waiting
            return await asyncio.to_thread(verify_password, hashed, password)
