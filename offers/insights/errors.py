"""Errors of aggregated insights; each has a stable `code` and an HTTP `status`.

InsightError
├── InsightInvalid
├── InsightNotFound
├── InsightPartnerSuspended
└── PrivacyBudgetExhausted
"""

from __future__ import annotations


class InsightError(Exception):
    """Base class: every subclass has a stable `code` and may name the offending `field`."""

    code = "insight_error"
    status = 500

    def __init__(self, detail: str, *, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InsightInvalid(InsightError):
    """Valid by the schema, but a release cannot be made as asked (an area too large, cells of
    two resolutions, an end before the start): 422, as every rule the schema cannot express."""

    code = "insight_request_invalid"
    status = 422


class InsightNotFound(InsightError):
    """No such release, or it belongs to another partner (the two look the same)."""

    code = "insight_not_found"
    status = 404


class InsightPartnerSuspended(InsightError):
    """A suspended partner gets no releases, as it gets no reads."""

    code = "partner_suspended"
    status = 403


class PrivacyBudgetExhausted(InsightError):
    """The partner's epsilon for this period is spent; nothing was released or spent."""

    code = "privacy_budget_exhausted"
    status = 409
