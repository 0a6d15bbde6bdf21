"""Errors raised by the Personal Data Space.

    DataSpaceError
    ├── NotFound
    │   ├── CustomerNotFound
    │   └── ExportNotFound
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


class DataSpaceError(Exception):
    """Base class: every subclass has a stable `code` and may name the offending `field`."""

    code = "data_space_error"

    def __init__(self, detail: str, *, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(DataSpaceError):
    """The object does not exist, or belongs to someone else (the two look the same)."""

    code = "not_found"


class CustomerNotFound(NotFound):
    """No such customer, or the account was closed."""

    code = "customer_not_found"


class ExportNotFound(NotFound):
    """No such export of this customer."""

    code = "export_not_found"


class UnknownCategory(DataSpaceError):
    """A category that is not in the vocabulary."""

    code = "unknown_category"


class ExportInvalidated(DataSpaceError):
    """The export's data was erased since it was made; make a new one."""

    code = "export_invalidated"


class ExportStale(DataSpaceError):
    """The records no longer match the export's manifest (a concurrent change)."""

    code = "export_stale"


class CustomerExists(DataSpaceError):
    """The external reference given for an imported customer is already taken."""

    code = "customer_exists"


class ImportRefused(DataSpaceError):
    """A package that cannot be imported; nothing was written."""

    code = "import_refused"


class ExportMalformed(ImportRefused):
    """The package does not follow the export format."""

    code = "export_malformed"


class ExporterNotTrusted(ImportRefused):
    """The package's issuer is not in `trusted_exporters`."""

    code = "export_issuer_not_trusted"


class ExporterKeysUnavailable(ImportRefused):
    """The trusted issuer's published keys could not be loaded."""

    code = "export_issuer_keys_unavailable"


class ExportSignatureInvalid(ImportRefused):
    """The manifest's signature does not verify against the issuer's published keys."""

    code = "export_signature_invalid"


class ExportContentMismatch(ImportRefused):
    """A part of the package does not match the hash (or count) in the signed manifest."""

    code = "export_content_mismatch"


class ExportAlreadyImported(ImportRefused):
    """This export of this issuer was imported before."""

    code = "export_already_imported"
