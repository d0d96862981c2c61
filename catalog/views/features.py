"""Cockpit pages for features: the list with the plans that set each, create, and edit within the API's rules."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import TemplateView
from rest_framework.exceptions import ValidationError

from atlas.api.exceptions import Conflict
from atlas.tenancy import MerchantPageMixin
from catalog import services
from catalog.forms import FeatureForm, serializer_errors_to_form
from catalog.models import Feature
from catalog.selectors import features_usage
from catalog.serializers import FeatureSerializer
from catalog.views.metrics import api_error_to_form, published_uses, uses_text
from catalog.views.plans import plain

# --- features ----------------------------------------------------------------------------------------------------


def describe_feature_default(feature: Feature) -> str:
    if feature.kind == Feature.Kind.LIMIT:
        limit = feature.default_limit
        if limit == Feature.UNLIMITED:
            text = "unlimited"
        else:
            text = "no access" if limit in (None, Feature.NO_ACCESS) else f"up to {plain(limit)}"
        return f"{text} of {feature.metric.code}" if feature.metric_id else text
    if feature.kind == Feature.Kind.BOOLEAN:
        return "enabled" if feature.default_enabled else "disabled"
    return feature.default_value or "—"


class FeatureListView(MerchantPageMixin, TemplateView):
    template_name = "catalog/feature_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        uses = features_usage(merchant=self.merchant)
        context["rows"] = [
            {"feature": feature, "default": describe_feature_default(feature),
             "uses": uses_text(uses.get(feature.pk, []))}
            for feature in self.scoped(Feature).select_related("metric").order_by("key")
        ]  # fmt: skip
        context.setdefault("form", FeatureForm(merchant=self.merchant))
        return context

    def post(self, request):
        form = FeatureForm(request.POST, merchant=request.merchant)
        if form.is_valid():
            serializer = FeatureSerializer(data=form.payload(), context={"merchant": request.merchant})
            if serializer.is_valid():
                try:
                    feature = services.feature_create(merchant=request.merchant, **serializer.validated_data)
                except ValidationError as exc:
                    api_error_to_form(form, exc)
                else:
                    messages.success(request, f"Feature {feature.key} created.")
                    return redirect("cockpit:feature", key=feature.key)
            else:
                serializer_errors_to_form(form, serializer.errors)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class FeatureDetailView(MerchantPageMixin, TemplateView):
    """One feature and its form. Its kind never changes; its metric is frozen once a published plan sets it."""

    template_name = "catalog/feature_detail.html"

    def _feature(self, key: str) -> Feature:
        return get_object_or_404(self.scoped(Feature).select_related("metric"), key=key)

    def _context(self, feature: Feature, form=None):
        uses = features_usage(merchant=self.merchant).get(feature.pk, [])
        published = published_uses(uses)
        form = form or FeatureForm(merchant=self.merchant, feature=feature, metric_locked=bool(published))
        return self.get_context_data(feature=feature, form=form, uses=uses_text(uses), locked_by=published,
                                     default=describe_feature_default(feature))  # fmt: skip

    def get(self, request, key):
        return self.render_to_response(self._context(self._feature(key)))

    def post(self, request, key):
        feature = self._feature(key)
        locked = bool(published_uses(features_usage(merchant=self.merchant).get(feature.pk, [])))
        form = FeatureForm(request.POST, merchant=request.merchant, feature=feature, metric_locked=locked)
        status = 400
        if form.is_valid():
            serializer = FeatureSerializer(
                feature, data=form.payload(), partial=True, context={"merchant": request.merchant}
            )
            if serializer.is_valid():
                try:
                    services.feature_update(feature=feature, **serializer.validated_data)
                except Conflict as exc:
                    form.add_error(None, str(exc.detail))
                    status = 409
                else:
                    messages.success(request, f"Feature {feature.key} saved.")
                    return redirect("cockpit:feature", key=feature.key)
            else:
                serializer_errors_to_form(form, serializer.errors)
        return self.render_to_response(self._context(feature, form), status=status)
