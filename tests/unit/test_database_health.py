"""An outage is news twice: when work first fails, and when work begun after that succeeds.
Work that was already running across a change of state changes nothing."""

from __future__ import annotations

import logging

from sql.health import DatabaseHealth


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_work_that_spans_a_change_of_state_is_not_news(caplog):
    caplog.set_level(logging.WARNING, logger="sql.health")
    clock = Clock()
    health = DatabaseHealth(clock)
    before_outage = clock.now
    clock.now = 1.0
    during = clock.now
    health.failed(ConnectionRefusedError(), began=during)
    assert not health.available
    clock.now = 2.0
    health.succeeded(began=before_outage)  # finished on a connection that still answered
    assert not health.available
    health.failed(ConnectionRefusedError(), began=during)  # more of the same outage
    clock.now = 3.0
    health.succeeded(began=2.5)  # begun after the outage was noted: it is over
    assert health.available
    health.failed(ConnectionResetError(), began=during)  # began in the outage, failed late
    assert health.available
    clock.now = 4.0
    health.failed(ConnectionResetError(), began=3.5)  # a new outage
    assert not health.available
    said = [r.getMessage() for r in caplog.records if r.name == "sql.health"]
    assert said == ["database_unavailable", "database_back", "database_unavailable"]


def test_only_the_failure_that_begins_an_outage_says_so():
    """The unit of work ends its pool's connections when `failed` says an outage began: once
    per outage, not once per failed request."""
    clock = Clock()
    health = DatabaseHealth(clock)
    clock.now = 1.0
    began = [health.failed(ConnectionResetError(), began=1.0)]
    began.append(health.failed(ConnectionResetError(), began=1.0))  # the same outage
    clock.now = 2.0
    health.succeeded(began=1.5)
    began.append(health.failed(ConnectionResetError(), began=1.5))  # began before it was back
    clock.now = 3.0
    began.append(health.failed(ConnectionResetError(), began=2.5))  # a new outage
    assert began == [True, False, False, True]
