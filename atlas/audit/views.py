"""The Audit log page: every recorded change of the merchant, filterable, paginated, old → new per field."""

import django_filters
from django import forms
from django.core.paginator import Paginator
from django.views.generic import TemplateView

from atlas.audit import selectors
from atlas.models import AuditEntry
from atlas.tenancy import MerchantPageMixin

PAGE_SIZE = 50


class AuditFilter(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(label="Object type", choices=selectors.type_choices, method="by_type")
    object = django_filters.CharFilter(
        label="Object", max_length=255, field_name="object_repr", lookup_expr="icontains"
    )
    object_id = django_filters.CharFilter(label="Object id", max_length=255, field_name="object_pk")
    actor = django_filters.CharFilter(label="Actor", max_length=255, field_name="actor_label", lookup_expr="icontains")
    action = django_filters.ChoiceFilter(label="Action", choices=AuditEntry.Action.choices[:3])
    since = django_filters.DateFilter(label="From", field_name="timestamp", lookup_expr="date__gte",
                                      widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    until = django_filters.DateFilter(label="To", field_name="timestamp", lookup_expr="date__lte",
                                      widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip

    class Meta:
        model = AuditEntry
        fields: list[str] = []

    def by_type(self, queryset, name, value):
        return queryset.filter(content_type=selectors.content_type_for(value))

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if valid:
            since, until = self.form.cleaned_data.get("since"), self.form.cleaned_data.get("until")
            if since and until and until < since:
                self.form.add_error("until", "must be on or after From")
                return False
        return valid


class AuditLogView(MerchantPageMixin, TemplateView):
    template_name = "atlas/audit_log.html"

    def get(self, request, *args, **kwargs):
        entries = selectors.entries_for_merchant(merchant=request.merchant).select_related("actor_api_key")
        filterset = AuditFilter(request.GET or None, queryset=entries)
        status = 200
        if filterset.is_bound and not filterset.is_valid():
            status, entries = 400, entries.none()
        elif filterset.is_bound:
            entries = filterset.qs
        page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
        rows = selectors.entry_rows(page.object_list)
        query = request.GET.copy()
        query.pop("page", None)
        context = self.get_context_data(filter=filterset, page=page, rows=rows, query=query.urlencode())
        return self.render_to_response(context, status=status)
