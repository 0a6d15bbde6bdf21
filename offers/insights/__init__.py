"""Aggregated insights (the Smart Steps product): footfall and data-usage statistics per H3
cell and time bucket, private by construction (bounded contributions, OpenDP noise, k
suppression, per-partner and per-customer epsilon budgets) and lawful by the same engine."""

from .area import AGE_BANDS, BAND_LABELS, MAX_AREA_CELLS, MAX_VALUES
from .errors import (
    InsightError,
    InsightInvalid,
    InsightNotFound,
    InsightPartnerSuspended,
    PrivacyBudgetExhausted,
)
from .models import (
    Area,
    BoundingBox,
    CustomerInsights,
    InsightRequest,
    Parameters,
    Release,
    ReleasedCell,
    ReleasesPage,
    ReleaseSummary,
)
from .service import METRIC_CATEGORIES, InsightService, InsightSettings, budget_period, values_hash

__all__ = [
    "AGE_BANDS",
    "BAND_LABELS",
    "MAX_AREA_CELLS",
    "MAX_VALUES",
    "METRIC_CATEGORIES",
    "Area",
    "BoundingBox",
    "CustomerInsights",
    "InsightError",
    "InsightInvalid",
    "InsightNotFound",
    "InsightPartnerSuspended",
    "InsightRequest",
    "InsightService",
    "InsightSettings",
    "Parameters",
    "PrivacyBudgetExhausted",
    "Release",
    "ReleaseSummary",
    "ReleasedCell",
    "ReleasesPage",
    "budget_period",
    "values_hash",
]
