"""Examples for the published document, by schema name: every request body and the main
answers (tests/api/test_generated_client.py checks each against its schema).

The document's writer drops every null from an example, so a field that is required and may be
null shows a value here."""

from __future__ import annotations

_AT = "2026-03-01T09:30:00Z"
_LATER = "2026-03-31T09:30:00Z"
_PARTNER = "ptn_01jq7m2c9x4v8k3d5r6t0w1y2z"
_CUSTOMER = "cus_01jq7m3a8b2c4d6e8f0g1h3j5k"
_OFFER = "off_01jq7m4k2m4n6p8q0r2s4t6v8w"
_GRANT = "grt_01jq7m5n3p5q7r9s1t3v5w7x9y"

_COMPENSATION = {"kind": "discount", "amount": 500, "currency": "EUR"}
_TERMS = {
    "title": "Footfall insights",
    "description": "Aggregated footfall counts for retail planning.",
    "categories": ["location", "data_usage"],
    "purposes": ["aggregated_analytics", "research"],
    "duration_days": 30,
    "lookback_days": 14,
    "compensation": _COMPENSATION,
    "jurisdictions": ["DE", "FR"],
}
_OFFER_OUT = {
    "id": _OFFER,
    "partner_id": _PARTNER,
    "status": "active",
    "version": 1,
    "max_grants": 100,
    "grant_count": 1,
    "terms": _TERMS,
    "terms_hash": "9f2c4b1e0d7a6c5b4a3928171605f4e3d2c1b0a9f8e7d6c5b4a39281716050f4",
    "created_at": _AT,
    "updated_at": _AT,
}
_GRANT_OUT = {
    "id": _GRANT,
    "customer_id": _CUSTOMER,
    "partner_id": _PARTNER,
    "offer_id": _OFFER,
    "offer_version": 1,
    "categories": ["location"],
    "purposes": ["aggregated_analytics"],
    "status": "active",
    "granted_at": _AT,
    "expires_at": _LATER,
    "updated_at": _AT,
    "terms_hash": _OFFER_OUT["terms_hash"],
    "receipt": "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJjb25zZW50UmVjZWlwdElEIjoiLi4uIn0.c2ln",
    "compensated": True,
}
_DECISION = {
    "id": "dec_01jq7m6p4q6r8s0t2v4w6x8y0z",
    "at": _AT,
    "partner_id": _PARTNER,
    "customer_id": _CUSTOMER,
    "category": "location",
    "purpose": "aggregated_analytics",
    "allowed": True,
    "reasons": ["grant_active"],
    "rule_ids": [],
    "grant_id": _GRANT,
    "rules_version": "2026-02-01",
}
_RECORD = {
    "id": "rec_01jq7m7q5r7s9t1v3w5x7y9z1a",
    "category": "location",
    "recorded_at": "2026-02-28T18:04:00Z",
    "source": "phone",
    "payload": {"lat": 52.52, "lon": 13.405, "accuracy_m": 25},
}

# A controller as its receipts name it (Kantara CR 1.1 piiControllers[], policyUrl).
_PROFILE = {
    "contact": "Data Protection Officer",
    "address": "Friedrichstrasse 1, 10117 Berlin, Germany",
    "email": "privacy@acme-retail.example",
    "phone": "+4930123456789",
    "policy_url": "https://acme-retail.example/privacy",
    "retention_days": 30,
}
EXAMPLES: dict[str, object] = {
    # Request bodies
    "CreatePartner": {"name": "Acme Retail Analytics", "jurisdiction": "DE", **_PROFILE},
    "CreateCustomer": {
        "external_ref": "crm-48213",
        "jurisdiction": "FR",
        "birth_date": "1990-04-12",
    },
    "CreateOffer": {**_TERMS, "max_grants": 100},
    "UpdateOffer": {"title": "Footfall insights (weekly)", "max_grants": 200},
    "AcceptOffer": {
        "offer_id": _OFFER,
        "categories": ["location"],
        "purposes": ["aggregated_analytics"],
    },
    "IngestRecords": {
        "records": [
            {k: v for k, v in _RECORD.items() if k != "id"},
        ]
    },
    "DecisionQuery": {"customer_id": _CUSTOMER, "category": "location", "purpose": "research"},
    "CreateFunding": {"amount": 100000, "currency": "EUR"},
    "SetPayoutAccount": {"stripe_account": "acct_1PqRsTuVwXyZ0123"},
    "EscrowAdjustment": {"amount": 250000, "currency": "EUR", "reference": "wire-2026-03-01"},
    "CreateWebhookEndpoint": {
        "url": "https://hooks.acme.example/consent",
        "events": ["grant.created", "grant.revoked"],
    },
    # Main answers
    "Partner": {
        "id": _PARTNER,
        "name": "Acme Retail Analytics",
        "jurisdiction": "DE",
        "status": "active",
        "created_at": _AT,
        "profile": _PROFILE,
    },
    "Customer": {
        "id": _CUSTOMER,
        "external_ref": "crm-48213",
        "jurisdiction": "FR",
        "birth_date": "1990-04-12",
        "created_at": _AT,
    },
    "Offer": _OFFER_OUT,
    "OfferPage": {"data": [_OFFER_OUT], "has_more": False},
    "CustomerOffer": {
        "id": _OFFER,
        "partner_id": _PARTNER,
        "partner_name": "Acme Retail Analytics",
        "version": 1,
        "terms": _TERMS,
        "terms_hash": _OFFER_OUT["terms_hash"],
        "eligible": True,
        "reasons": [],
        "exclusions": [],
    },
    "Grant": _GRANT_OUT,
    "GrantPage": {"data": [_GRANT_OUT], "has_more": False},
    "AccessDecision": _DECISION,
    "GrantedRecord": _RECORD,
    "RecordsPage": {"data": [_RECORD], "has_more": False, "decision": _DECISION},
    "StoredRecord": {**_RECORD, "ingested_at": _AT},
    "IngestResult": {"ingested": 1, "by_category": {"location": 1}},
    "PaymentAccounts": {"customer_id": _CUSTOMER, "stripe_account_id": "acct_1PqRsTuVwXyZ0123"},
    "Funding": {
        "payment_intent": "pi_3PqRsTuVwXyZ0123",
        "client_secret": "pi_3PqRsTuVwXyZ0123_secret_4aBcDeFgHiJkLmNo",
        "amount": 100000,
        "currency": "EUR",
        "status": "requires_payment_method",
    },
    "WebhookEndpoint": {
        "id": "whe_01jq7m8r6s8t0v2w4x6y8z0a2b",
        "partner_id": _PARTNER,
        "url": "https://hooks.acme.example/consent",
        "events": ["grant.created", "grant.revoked"],
        "created_at": _AT,
        "secret": "whsec_6b1f0e2d9c8a7b6c5d4e3f2a1b0c9d8e",
    },
    "Erasure": {
        "categories": ["location"],
        "records_deleted": 42,
        "grants_revoked": [_GRANT],
        "partners_notified": [_PARTNER],
    },
    "Export": {
        "id": "exp_01jq7m9s7t9v1w3x5y7z9a1b3c",
        "status": "invalidated",
        "format": "consent-marketplace-export/1",
        "media_type": "application/jsonl",
        "issuer": "https://marketplace.example",
        "record_count": 42,
        "consent_count": 1,
        "created_at": _AT,
        "invalidated_at": _LATER,
        "signature": "eyJhbGciOiJFZERTQSJ9..c2ln",
        "download_url": "/v1/me/exports/exp_01jq7m9s7t9v1w3x5y7z9a1b3c/download",
    },
}
EXAMPLES.update(
    {
        "DataOverview": {
            "customer_id": _CUSTOMER,
            "categories": [
                {
                    "category": "location",
                    "iri": "https://w3id.org/dpv/pd#Location",
                    "record_count": 42,
                    "first_recorded_at": "2026-02-01T08:00:00Z",
                    "last_recorded_at": "2026-02-28T18:04:00Z",
                    "sources": ["phone"],
                    "readers": [
                        {
                            "grant_id": _GRANT,
                            "partner_id": _PARTNER,
                            "partner_name": "Acme Retail Analytics",
                            "purposes": ["aggregated_analytics"],
                            "expires_at": _LATER,
                        }
                    ],
                }
            ],
        },
        "Earnings": {
            "balances": [
                {
                    "kind": "cash",
                    "currency": "EUR",
                    "earned": 1500,
                    "paid": 1000,
                    "pending": 0,
                    "available": 500,
                }
            ],
            "payouts": [
                {
                    "id": "pay_01jq7maa8b0c2d4e6f8g0h2j4k",
                    "customer_id": _CUSTOMER,
                    "kind": "cash",
                    "amount": 1000,
                    "currency": "EUR",
                    "status": "succeeded",
                    "attempts": 1,
                    "stripe_object_id": "tr_1PqRsTuVwXyZ0123",
                    "created_at": _AT,
                    "updated_at": _AT,
                }
            ],
        },
        "ImportResult": {
            "id": "imp_01jq7mbb9c1d3e5f7g9h1j3k5m",
            "customer_id": _CUSTOMER,
            "issuer": "https://former-operator.example",
            "export_id": "exp_01jq7m9s7t9v1w3x5y7z9a1b3c",
            "record_count": 42,
            "consent_count": 1,
            "imported_at": _AT,
        },
        "AccessLogItem": {
            "id": 1042,
            "kind": "decision",
            "at": _AT,
            "partner_id": _PARTNER,
            "category": "location",
            "outcome": "allow",
            "purpose": "aggregated_analytics",
            "reasons": ["grant_active"],
            "grant_id": _GRANT,
        },
        "SealedEntry": {
            "leaf_index": 1041,
            "id": 1042,
            "kind": "decision",
            "at": _AT,
            "jurisdictions": ["FR"],
            "partner_id": _PARTNER,
            "subject": "b7c1e0f2a9d84c6e",
            "category": "location",
            "outcome": "allow",
            "entry": '{"kind":"decision","outcome":"allow"}',
        },
        "StatementLine": {
            "txn_id": "txn_01jq7mcc0d2e4f6g8h0j2k4m6n",
            "kind": "funding",
            "reference": "wire-2026-03-01",
            "amount": 250000,
            "currency": "EUR",
            "created_at": _AT,
        },
        "ImportedConsent": {
            "id": "imc_01jq7mdd1e3f5g7h9j1k3m5n7p",
            "former_operator": "https://former-operator.example",
            "former_grant_id": "grt_former_0001",
            "controller_id": _PARTNER,
            "controller_name": "Acme Retail Analytics",
            "categories": ["location"],
            "purposes": ["aggregated_analytics"],
            "former_status": "active",
            "granted_at": _AT,
            "expires_at": _LATER,
            "status": "to_confirm",
            "created_at": _AT,
        },
        "WebhookDelivery": {
            "id": "whd_01jq7mee2f4g6h8j0k2m4n6p8q",
            "event_id": "evt_01jq7mff3g5h7j9k1m3n5p7q9r",
            "event_type": "grant.revoked",
            "status": "pending",
            "attempts": 1,
            "last_status_code": 503,
            "next_attempt_at": _AT,
            "created_at": _AT,
            "updated_at": _AT,
            "log": [
                {
                    "attempt": 1,
                    "at": _AT,
                    "status_code": 503,
                    "error": "http_status",
                    "duration_ms": 120,
                }
            ],
        },
    }
)
# A page of each: one item, no more pages.
for _page, _item in {
    "StoredRecordPage": "StoredRecord",
    "CustomerOfferPage": "CustomerOffer",
    "ImportedConsentPage": "ImportedConsent",
    "StatementLinePage": "StatementLine",
    "WebhookEndpointPage": "WebhookEndpoint",
    "WebhookDeliveryPage": "WebhookDelivery",
    "AccessLogPage": "AccessLogItem",
    "SealedEntryPage": "SealedEntry",
}.items():
    EXAMPLES[_page] = {"data": [EXAMPLES[_item]], "has_more": False}

# Consent's afterlife: deletion obligations, their confirmation, notifications, suspensions.
_OBLIGATION = {
    "id": "dob_01jq7m9a1b2c3d4e5f6g7h8j9k",
    "grant_id": _GRANT,
    "partner_id": _PARTNER,
    "customer_id": _CUSTOMER,
    "jurisdiction": "FR",
    "cause": "revoked",
    "categories": ["data_usage"],
    "records_released": 12,
    "data_from": "2026-02-01T00:00:00Z",
    "data_to": _AT,
    "state": "open",
    "opened_at": _AT,
    "due_at": "2026-03-31T09:30:00Z",
}
EXAMPLES.update(
    {
        "ConfirmDeletion": {
            "method": "deleted",
            "statement": "Deleted from our warehouse and every derived table; backups expire.",
            "completed_at": "2026-03-05T16:00:00Z",
        },
        "LiftSuspension": {"until": "2026-03-15T00:00:00Z"},
        "CreateOperatorWebhookEndpoint": {
            "url": "https://operator.example/hooks/notifications",
            "events": ["notification.created"],
        },
        "DeletionObligation": _OBLIGATION,
        "DeletionObligationPage": {"data": [_OBLIGATION], "has_more": False},
        "CustomerGrant": {
            **_GRANT_OUT,
            "deletion": [
                {
                    "obligation_id": _OBLIGATION["id"],
                    "grant_id": _GRANT,
                    "partner_id": _PARTNER,
                    "cause": "revoked",
                    "categories": ["data_usage"],
                    "records_released": 12,
                    "state": "confirmed",
                    "due_at": _OBLIGATION["due_at"],
                    "confirmed": True,
                    "confirmed_at": "2026-03-05T16:10:00Z",
                    "method": "deleted",
                    "completed_at": "2026-03-05T16:00:00Z",
                    "receipt_url": f"/v1/me/deletion-confirmations/{_OBLIGATION['id']}",
                }
            ],
        },
        "NotificationPage": {
            "data": [
                {
                    "id": "ntf_01jq7m9b1c2d3e4f5g6h7j8k9m",
                    "kind": "grant.ended",
                    "language": "en",
                    "title": "Your consent ended",
                    "body": "Acme Retail Analytics may no longer read your data usage.",
                    "params": {"partner": "Acme Retail Analytics"},
                    "created_at": _AT,
                    "read_at": _LATER,
                }
            ],
            "has_more": False,
        },
        "MarkNotificationsRead": {"up_to": "ntf_01jq7m9b1c2d3e4f5g6h7j8k9m"},
        "NotificationsRead": {"marked": 3, "unread": 0},
        # (an example cannot hold a null: the document drops it)
        "PartnerSuspension": {
            "partner_id": _PARTNER,
            "status": "suspended",
            "suspended_reason": "deletion_overdue",
            "suspended_at": "2026-04-08T00:00:00Z",
            "suspension_lifted_until": "2026-04-15T00:00:00Z",
            "open_obligations": 2,
            "overdue_obligations": 1,
        },
    }
)

# Aggregated insights: a footfall request, its release, and what a customer is told.
_RELEASE_CELL = "881fb46625fffff"
_RELEASE = {
    "id": "ins_01jq7m9c1d2e3f4g5h6j7k8m9n",
    "partner_id": _PARTNER,
    "metric": "footfall",
    "unit": "people",
    "created_at": _AT,
    "start": "2026-02-28T08:00:00Z",
    "end": "2026-02-28T10:00:00Z",
    "bucket": "hour",
    "breakdown": "age_band",
    "cells": [
        {
            "cell": _RELEASE_CELL,
            "bucket_start": "2026-02-28T08:00:00Z",
            "age_band": "25-34",
            "value": 412,
            "suppressed": False,
        },
        {
            "cell": _RELEASE_CELL,
            "bucket_start": "2026-02-28T09:00:00Z",
            "age_band": "25-34",
            "suppressed": True,
        },
    ],
    "parameters": {
        "k": 50,
        "epsilon": 1.0,
        "delta": 1e-06,
        "mechanism": "discrete_laplace",
        "noise_scale": 2.0,
        "threshold": 76.2,
        "bounds": {"cells_per_bucket": 1, "buckets_per_release": 2, "value_per_cell": 1},
        "cell_resolution": 8,
        "budget_period_start": "2026-02-18",
    },
    "rules_version": "sha256:4f2c9a0d1e7b3c5a6d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4",
    "values_hash": "sha256:9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e",
}
EXAMPLES.update(
    {
        "CreateInsight": {
            "metric": "footfall",
            "area": {"cells": [_RELEASE_CELL]},
            "start": "2026-02-28T08:00:00Z",
            "end": "2026-02-28T10:00:00Z",
            "bucket": "hour",
            "breakdown": "age_band",
            "epsilon": 1.0,
        },
        "Release": _RELEASE,
        "ReleasesPage": {
            "data": [
                {
                    "id": _RELEASE["id"],
                    "metric": "footfall",
                    "created_at": _AT,
                    "start": _RELEASE["start"],
                    "end": _RELEASE["end"],
                    "epsilon": 1.0,
                    "values_hash": _RELEASE["values_hash"],
                }
            ],
            "has_more": False,
        },
        "CustomerInsights": {
            "releases": 3,
            "by_partner": [
                {
                    "partner_id": _PARTNER,
                    "partner_name": "Acme Retail Analytics",
                    "releases": 3,
                    "epsilon": 3.0,
                }
            ],
            "budget_period_start": "2026-02-18",
            "budget_period_end": "2026-03-20",
            "epsilon_spent": 3.0,
            "epsilon_limit": 10.0,
        },
    }
)

# A grant's receipt chain: the acceptance's, then one per state change, each naming the last.
_JWS = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoiY29uc2VudC1yZWNlaXB0K2p3dCJ9.e30.c2ln"
EXAMPLES["GrantReceipts"] = {
    "grant_id": _GRANT,
    "data": [
        {
            "index": 1,
            "event_type": "paused",
            "event_state": "paused",
            "previous_hash": "sha256:5d41402abc4b2a76b9719d911017c592ae4f1e6a2c3b4d5e6f708192a3b4c5d6",
            "created_at": _AT,
            "receipt": _JWS,
        }
    ],
}
