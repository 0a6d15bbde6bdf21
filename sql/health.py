"""Whether the database answers, as this process last saw it: an outage is said once when it
begins and once when it ends, never once per failed request.

Only work that began after the last change of state can change it again: a request that was
already running when the database went away may still succeed, and one that began during the
outage may fail after the database is back; neither is news, and neither is logged.

`failed` says whether it began an outage: the unit of work then expires its pool's
connections, so the idle ones the outage left dead (every backend terminated, a restart) are
not found one per request after the database is back, each read as a new outage."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("sql.health")


class DatabaseHealth:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.available = True
        self.clock = clock
        self._changed = float("-inf")  # on `clock`, when `available` last changed

    def failed(self, fault: BaseException, began: float) -> bool:
        """Work that began at `began` (on `clock`) failed because of the database (`fault`:
        the driver's or the network's own error). True when this began an outage."""
        if self.available and began >= self._changed:
            self.available, self._changed = False, self.clock()
            log.warning("database_unavailable", extra={"error": type(fault).__name__})
            return True
        return False

    def succeeded(self, began: float) -> None:
        """Work that began at `began` (on `clock`) was answered by the database."""
        if not self.available and began >= self._changed:
            self.available, self._changed = True, self.clock()
            log.warning("database_back")
