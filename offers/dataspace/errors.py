"""Errors raised by the Personal Data Space; each has a stable `code` and an HTTP `status`.

DataSpaceError
├── NotFound
│   ├── PartnerNotFound
│   ├── CustomerNotFound
│   └── ExportNotFound
├── InvalidInput
│   └── ImplausibleRecord
├── AccessDenied
├── UnknownCategory
├── ExportInvalidated
├── ExportStale
├── CustomerExists
└── ImportRefused
    ├── ExportMalformed
    ├── ExporterNotTrusted
    ├── ExporterKeysUnavailable
    ├── ExportSignatureInvalid
    ├── ExportContentMismatch
    └── ExportAlreadyImported
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class DataSpaceError(Exception):
    """Base class: every subclass has a stable `code` and may name the offending `field`."""

    code = "data_space_error"
    status = 500

    def __init__(self, detail: str, *, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(DataSpaceError):
    """The object does not exist, or belongs to someone else (the two look the same)."""

    code = "not_found"
    status = 404


class PartnerNotFound(NotFound):
    """The partner in the token does not exist."""

    code = "partner_not_found"
    status = 404


class CustomerNotFound(NotFound):
    """No such customer, or the account is closed."""

    code = "customer_not_found"
    status = 404


class ExportNotFound(NotFound):
    """No such export of this customer."""

    code = "export_not_found"
    status = 404


class InvalidInput(DataSpaceError):
    """A request value the schema cannot check (an unknown category, a bad record)."""

    code = "invalid_input"
    status = 400


class ImplausibleRecord(InvalidInput):
    """A well-formed record that cannot be true (recorded in the future)."""

    code = "implausible_record"
    status = 422


class AccessDenied(DataSpaceError):
    """The policy engine denied a partner's read; `decision` is the recorded decision."""

    code = "access_denied"
    status = 403

    def __init__(self, detail: str, *, decision: Any):
        super().__init__(detail)
        self.decision = decision


class UnknownCategory(DataSpaceError):
    """A category outside the vocabulary."""

    code = "unknown_category"
    status = 400


class ExportInvalidated(DataSpaceError):
    """Data in the export was erased since it was made."""

    code = "export_invalidated"
    status = 410


class ExportStale(DataSpaceError):
    """The records changed since the export was made."""

    code = "export_stale"
    status = 409


class CustomerExists(DataSpaceError):
    """An import names an external_ref that is already a customer."""

    code = "customer_exists"
    status = 409


class ImportRefused(DataSpaceError):
    """A package that cannot be imported; nothing of it was kept."""

    code = "import_refused"
    status = 422


class ExportMalformed(ImportRefused):
    """A package line that is not what the format says."""

    code = "export_malformed"
    status = 422


class ExporterNotTrusted(ImportRefused):
    """The package's issuer is not a trusted exporter."""

    code = "export_issuer_not_trusted"
    status = 422


class ExporterKeysUnavailable(ImportRefused):
    """The trusted exporter's published keys could not be loaded."""

    code = "export_issuer_keys_unavailable"
    status = 502


class ExportSignatureInvalid(ImportRefused):
    """The manifest's signature does not verify with the exporter's keys."""

    code = "export_signature_invalid"
    status = 422


class ExportContentMismatch(ImportRefused):
    """A part's content does not match the signed manifest."""

    code = "export_content_mismatch"
    status = 422


class ExportAlreadyImported(ImportRefused):
    """This export of this issuer was imported before."""

    code = "export_already_imported"
    status = 409


# Violated database constraints (by name) and the domain error each means; the unit of work
# translates them once, at the data layer's boundary.
CONSTRAINT_ERRORS: dict[str, Callable[[], Exception]] = {
    # imports UNIQUE (issuer, export_id): the same package a second time.
    "import_claims_pkey": lambda: ExportAlreadyImported(
        "this export of this issuer was already imported", field="header.export_id"
    ),
}
