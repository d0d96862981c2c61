"""Cockpit pages of the catalog, one module per concept: metrics, features, plans, and a draft's lines.

Every form is validated by the API's own serializers and written through ``catalog.services``, so the
pages enforce exactly the API's rules and an error names the field the API would name.
"""

from catalog.views.features import FeatureDetailView, FeatureListView
from catalog.views.metrics import MetricDetailView, MetricListView
from catalog.views.plan_lines import (
    OneTimeFeeEditView,
    OneTimeFeeRemoveView,
    PlanFeatureEditView,
    PlanFeatureRemoveView,
)
from catalog.views.plans import (
    ChargeEditView,
    ChargeRemoveView,
    PlanDetailView,
    PlanListView,
    PlanNewVersionView,
    PlanPublishView,
    price_example,
)

__all__ = [
    "ChargeEditView", "ChargeRemoveView", "FeatureDetailView", "FeatureListView", "MetricDetailView",
    "MetricListView", "OneTimeFeeEditView", "OneTimeFeeRemoveView", "PlanDetailView", "PlanFeatureEditView",
    "PlanFeatureRemoveView", "PlanListView", "PlanNewVersionView", "PlanPublishView", "price_example",
]  # fmt: skip
