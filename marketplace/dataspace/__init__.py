"""The customer's Personal Data Space: see it, erase it, take it along."""

from .errors import DataSpaceError
from .models import (
    CategoryHeld,
    DataOverview,
    Erasure,
    Export,
    ImportedConsent,
    ImportResult,
    Reader,
    Record,
)
from .package import MEDIA_TYPE
from .service import DataSpaceService

__all__ = [
    "MEDIA_TYPE", "CategoryHeld", "DataOverview", "DataSpaceError", "DataSpaceService",
    "Erasure", "Export", "ImportResult", "ImportedConsent", "Reader", "Record",
]
