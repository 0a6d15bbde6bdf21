"""Whether the database answers, as this process last saw it: an outage is said once when it
begins and once when it ends, never once per failed request."""

from __future__ import annotations

import logging

log = logging.getLogger("sql.health")


class DatabaseHealth:
    def __init__(self) -> None:
        self.available = True

    def failed(self, fault: Exception) -> None:
        if self.available:
            self.available = False
            log.warning("database_unavailable", extra={"error": type(fault).__name__})

    def succeeded(self) -> None:
        if not self.available:
            self.available = True
            log.warning("database_back")
