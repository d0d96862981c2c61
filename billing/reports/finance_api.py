"""REST routes of the finance reports: receivables aging and the journal (SPEC §11.2; docs/receivables.md,
docs/accounting.md)."""

from django.http import FileResponse, StreamingHttpResponse
from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from atlas.api.viewsets import MerchantAPIView
from billing.reports.journal import XLSX, journal_csv, journal_json, journal_rows, journal_xlsx
from billing.reports.params import (
    FormatIsAParameter,
    date_param,
    date_parameter,
    format_param,
    format_parameter,
    span_params,
    today,
)
from billing.reports.receivables import receivables_report

JOURNAL_FORMATS = ("json", "csv", "xlsx")


class ReceivablesView(MerchantAPIView):
    content_negotiation_class = FormatIsAParameter

    @extend_schema(
        parameters=[date_parameter("as_of", "The day whose close the amounts are taken at; default today")],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description=(
            '{"as_of", "results": [{"customer", "customer_name", "currency", "current", "1_30", "31_60", "61_90", '
            '"over_90", "total"}], "totals": {currency: {...}}}'))},
    )  # fmt: skip
    def get(self, request):
        """What each customer owed at the close of ``as_of``, by days past due."""
        merchant = self.merchant
        as_of = date_param(request.query_params, "as_of", today(merchant.timezone))
        return Response(receivables_report(merchant=merchant, as_of=as_of))


class JournalView(MerchantAPIView):
    content_negotiation_class = FormatIsAParameter

    @extend_schema(
        parameters=[date_parameter("from", "First day; default the first of this month"),
                    date_parameter("to", "Last day, inclusive; default today"), format_parameter(JOURNAL_FORMATS)],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description=(
                '{"from", "to", "results": [{date, entry, account, debit, credit, currency, invoice, payment, '
                'credit_note, customer}], "totals": {currency: {account: {debit, credit, balance}}}}')),
            (200, "text/csv"): OpenApiTypes.STR,
            (200, XLSX): OpenApiTypes.BINARY,
        },
    )  # fmt: skip
    def get(self, request):
        """Double-entry rows of the span; every entry balances (docs/accounting.md)."""
        merchant = self.merchant
        now = today(merchant.timezone)
        start, end = span_params(request.query_params, default_start=now.replace(day=1), default_end=now)
        fmt = format_param(request.query_params, JOURNAL_FORMATS)
        if fmt == "json":
            return Response(journal_json(merchant=merchant, start=start, end=end))
        rows = journal_rows(merchant=merchant, start=start, end=end)
        filename = f"{merchant.slug}-journal-{start.isoformat()}-{end.isoformat()}.{fmt}"
        if fmt == "csv":
            response = StreamingHttpResponse(journal_csv(rows), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        return FileResponse(journal_xlsx(rows), as_attachment=True, filename=filename, content_type=XLSX)


urlpatterns = [
    re_path(r"^reports/receivables/?$", ReceivablesView.as_view(), name="report-receivables"),
    re_path(r"^reports/journal/?$", JournalView.as_view(), name="report-journal"),
]
