"""Offers, grants and consent receipts, and the partner webhooks that tell of them. The
Personal Data Space is its own subpackage, `offers.dataspace`."""

from .errors import (
    CONSTRAINT_ERRORS,
    AlreadyGranted,
    CustomerNotFound,
    GrantNotFound,
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
from .events import DELIVER_ENTRYPOINT, EVENT_TYPES
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
from .webhook_signature import SIGNATURE_HEADER, WebhookSignatureError, sign_webhook, verify_webhook
from .webhooks import (
    EndpointNotFound,
    InvalidWebhookEndpoint,
    RetryPolicy,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookService,
)

__all__ = [
    "CONSTRAINT_ERRORS",
    "DELIVER_ENTRYPOINT",
    "EVENT_TYPES",
    "SIGNATURE_HEADER",
    "AlreadyGranted",
    "Compensation",
    "ConsentService",
    "Customer",
    "CustomerNotFound",
    "CustomerOffer",
    "EndpointNotFound",
    "Grant",
    "GrantNotFound",
    "InvalidTerms",
    "InvalidTransition",
    "InvalidWebhookEndpoint",
    "NotEligible",
    "NotFound",
    "Offer",
    "OfferFull",
    "OfferNotFound",
    "OfferNotOpen",
    "OfferTerms",
    "OfferVersionChanged",
    "OffersError",
    "Page",
    "Partner",
    "PartnerNotFound",
    "Reason",
    "ReceiptSigner",
    "RetryPolicy",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookService",
    "WebhookSignatureError",
    "terms_hash",
    "sign_webhook",
    "verify_webhook",
]
