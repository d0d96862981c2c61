"""Cockpit pages for metrics: the list with the plans that use each, create, and edit within the API's rules.

The form's text becomes the API's JSON and is validated by ``MetricSerializer``; writes go through
``catalog.services``, so the page refuses what the API refuses, naming the same field.
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import TemplateView
from rest_framework.exceptions import ValidationError

from atlas.api.exceptions import Conflict
from atlas.tenancy import MerchantPageMixin
from catalog import services
from catalog.forms import MetricForm, serializer_errors_to_form
from catalog.models import Metric
from catalog.selectors import metrics_usage
from catalog.serializers import MetricSerializer

# --- metrics -----------------------------------------------------------------------------------------------------


def uses_text(uses: list[dict]) -> list[str]:
    return [f"{use['plan']} v{use['version']}" + ("" if use["published"] else " (draft)") for use in uses]


def published_uses(uses: list[dict]) -> list[str]:
    return [f"{use['plan']} v{use['version']}" for use in uses if use["published"]]


def api_error_to_form(form, exc: ValidationError) -> None:
    detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    serializer_errors_to_form(form, detail)


class MetricListView(MerchantPageMixin, TemplateView):
    """Every metric with what it counts and the plans that use it; editors create metrics here."""

    template_name = "catalog/metric_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        uses = metrics_usage(merchant=self.merchant)
        context["rows"] = [
            {"metric": metric, "uses": uses_text(uses.get(metric.pk, [])),
             "locked": bool(published_uses(uses.get(metric.pk, [])))}
            for metric in self.scoped(Metric).order_by("code")
        ]  # fmt: skip
        context.setdefault("form", MetricForm())
        return context

    def post(self, request):
        form = MetricForm(request.POST)
        if form.is_valid():
            serializer = MetricSerializer(data=form.payload(), context={"merchant": request.merchant})
            if serializer.is_valid():
                try:
                    metric = services.metric_create(merchant=request.merchant, **serializer.validated_data)
                except ValidationError as exc:
                    api_error_to_form(form, exc)
                else:
                    messages.success(request, f"Metric {metric.code} created.")
                    return redirect("cockpit:metric", code=metric.code)
            else:
                serializer_errors_to_form(form, serializer.errors)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class MetricDetailView(MerchantPageMixin, TemplateView):
    """One metric: its definition, the plans that use it, and (for editors) its form.

    Once a published plan version depends on the metric, its definition is frozen (the API answers
    409): those fields are shown locked, with the versions that lock them; name and description stay open.
    """

    template_name = "catalog/metric_detail.html"

    def _metric(self, code: str) -> Metric:
        return get_object_or_404(self.scoped(Metric), code=code)

    def _context(self, metric: Metric, form=None, **extra):
        uses = metrics_usage(merchant=self.merchant).get(metric.pk, [])
        published = published_uses(uses)
        form = form or MetricForm(metric=metric, locked=bool(published))
        return self.get_context_data(metric=metric, form=form, uses=uses_text(uses), locked_by=published,
                                     features=list(metric.features.order_by("key")), **extra)  # fmt: skip

    def get(self, request, code):
        return self.render_to_response(self._context(self._metric(code)))

    def post(self, request, code):
        metric = self._metric(code)
        locked = bool(published_uses(metrics_usage(merchant=self.merchant).get(metric.pk, [])))
        form = MetricForm(request.POST, metric=metric, locked=locked)
        status = 400
        if form.is_valid():
            serializer = MetricSerializer(
                metric, data=form.payload(), partial=True, context={"merchant": request.merchant}
            )
            if serializer.is_valid():
                try:
                    services.metric_update(metric=metric, **serializer.validated_data)
                except Conflict as exc:
                    form.add_error(None, str(exc.detail))
                    status = 409
                else:
                    messages.success(request, f"Metric {metric.code} saved.")
                    return redirect("cockpit:metric", code=metric.code)
            else:
                serializer_errors_to_form(form, serializer.errors)
        return self.render_to_response(self._context(metric, form), status=status)
