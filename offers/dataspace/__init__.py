"""The customer's Personal Data Space: records and their ingestion, the partner read path
through the policy engine (with its group-committed decisions), and what the customer does
with their data: see it, erase it, take it along to another operator."""

from .access import (
    DEFAULT_CELL_RESOLUTION,
    MAX_RECORDS_PER_BATCH,
    DataAccessService,
    decode_record_line,
    validate_record,
)
from .access_models import AccessDecision, IngestResult, NewRecord, RecordsPage
from .access_models import Record as ReleasedRecord
from .errors import (
    CONSTRAINT_ERRORS,
    AccessDenied,
    CustomerNotFound,
    DataSpaceError,
    ImplausibleRecord,
    InvalidInput,
    PartnerNotFound,
)
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
    "CONSTRAINT_ERRORS",
    "DEFAULT_CELL_RESOLUTION",
    "MAX_RECORDS_PER_BATCH",
    "MEDIA_TYPE",
    "AccessDecision",
    "AccessDenied",
    "CategoryHeld",
    "CustomerNotFound",
    "DataAccessService",
    "DataOverview",
    "DataSpaceError",
    "DataSpaceService",
    "Erasure",
    "Export",
    "ImplausibleRecord",
    "ImportResult",
    "ImportedConsent",
    "IngestResult",
    "InvalidInput",
    "NewRecord",
    "PartnerNotFound",
    "Reader",
    "Record",
    "RecordsPage",
    "ReleasedRecord",
    "decode_record_line",
    "validate_record",
]
