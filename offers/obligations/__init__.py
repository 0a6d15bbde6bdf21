"""Consent's afterlife: when a grant ends or narrows, the partner owes a deletion of what it
received (an obligation with a deadline), confirms it with a signed receipt, and is suspended
for new reads when it is late; the customer is told each step, in their language."""

from .afterlife import NOTIFICATION_CREATED, Afterlife
from .errors import (
    InvalidConfirmation,
    InvalidLift,
    NotificationNotFound,
    ObligationNotFound,
    ObligationNotOpen,
)
from .messages import KINDS as NOTIFICATION_KINDS
from .messages import LANGUAGES, pick_language
from .models import (
    Clock,
    CustomerGrant,
    Deletion,
    DeletionObligation,
    DeletionPolicy,
    NewNotification,
    Notification,
    NotificationsRead,
    PartnerDeletionMetrics,
    PartnerSuspension,
    system_clock,
)
from .repository import ObligationsRepository
from .service import ObligationService, deletion_view

__all__ = [
    "LANGUAGES",
    "NOTIFICATION_CREATED",
    "NOTIFICATION_KINDS",
    "Afterlife",
    "Clock",
    "CustomerGrant",
    "Deletion",
    "DeletionObligation",
    "DeletionPolicy",
    "NewNotification",
    "InvalidConfirmation",
    "InvalidLift",
    "Notification",
    "NotificationNotFound",
    "NotificationsRead",
    "ObligationNotFound",
    "ObligationNotOpen",
    "ObligationService",
    "ObligationsRepository",
    "PartnerDeletionMetrics",
    "PartnerSuspension",
    "deletion_view",
    "pick_language",
    "system_clock",
]
