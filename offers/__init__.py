"""Offers, grants and consent receipts."""

from .access import MAX_RECORDS_PER_BATCH, DataAccessService, validate_record
from .access_models import AccessDecision, IngestResult, NewRecord, Record, RecordsPage
from .errors import (
    AccessDenied,
    AlreadyGranted,
    CustomerNotFound,
    GrantNotFound,
    InvalidInput,
    InvalidTerms,
    InvalidTransition,
    NotEligible,
    NotFound,
    OfferFull,
    OfferNotFound,
    OfferNotOpen,
    OffersError,
    OfferVersionChanged,
    PartnerNotFound,
)
from .models import (
    Compensation,
    Customer,
    CustomerOffer,
    Grant,
    Offer,
    OfferTerms,
    Page,
    Partner,
    Reason,
)
from .receipts import ReceiptSigner, terms_hash
from .service import ConsentService

__all__ = [
    "AlreadyGranted", "Compensation", "ConsentService", "Customer", "CustomerNotFound",
    "CustomerOffer", "Grant", "GrantNotFound", "InvalidTerms", "InvalidTransition",
    "NotEligible", "NotFound", "Offer", "OfferFull", "OfferNotFound", "OfferNotOpen",
    "OfferTerms", "OfferVersionChanged", "OffersError", "Page", "Partner", "PartnerNotFound",
    "Reason", "ReceiptSigner", "terms_hash",
    "MAX_RECORDS_PER_BATCH", "AccessDecision", "AccessDenied", "DataAccessService",
    "IngestResult", "InvalidInput", "NewRecord", "Record", "RecordsPage", "validate_record",
]

from .events import DELIVER_ENTRYPOINT, EVENT_TYPES, grant_event, record_event
from .webhooks import (
    EndpointNotFound,
    RetryPolicy,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookService,
)

__all__ += [
    "DELIVER_ENTRYPOINT", "EVENT_TYPES", "EndpointNotFound", "RetryPolicy", "WebhookDelivery", "WebhookEndpoint",
    "WebhookService", "grant_event", "record_event",
]
