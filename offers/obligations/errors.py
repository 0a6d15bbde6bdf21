"""Errors of deletion obligations; each has a stable `code` and an HTTP `status`."""

from __future__ import annotations

from ..errors import NotFound, OffersError


class ObligationNotFound(NotFound):
    """No such deletion obligation of this partner (or customer)."""

    code = "deletion_obligation_not_found"
    status = 404


class NotificationNotFound(NotFound):
    """No such notification of this customer."""

    code = "notification_not_found"
    status = 404


class ObligationNotOpen(OffersError):
    """The obligation was confirmed already, or never owed anything."""

    code = "deletion_obligation_not_open"
    status = 409


class InvalidConfirmation(OffersError):
    """A confirmation that cannot be true: done in the future, or before the data's last read."""

    code = "invalid_deletion_confirmation"
    status = 422


class InvalidLift(OffersError):
    """A suspension lift whose hold does not lie in the future."""

    code = "invalid_suspension_lift"
    status = 422
