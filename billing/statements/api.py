"""``GET /customers/{id}/statement?from=&to=&format=json|pdf`` (SPEC §11.2; docs/receivables.md, "Statements")."""

from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from atlas.api.viewsets import MerchantGenericView
from atlas.money import is_currency, to_str
from billing.invoices.pdf import inline_pdf
from billing.reports.params import (
    FormatIsAParameter,
    date_parameter,
    format_param,
    format_parameter,
    span_params,
    today,
)
from billing.statements.pdf import statement_pdf_bytes
from billing.statements.selectors import customer_statement
from customers.models import Customer

FORMATS = ("json", "pdf")


def statement_json(statement) -> dict:
    currency = statement.currency

    def row_json(row) -> dict:
        return {"date": row.at.isoformat(), "type": row.kind, "reference": row.reference,
                "description": row.description, "amount": to_str(row.amount, currency),
                "balance": to_str(row.balance, currency), "invoice": row.invoice_id}  # fmt: skip

    rows = [row_json(row) for row in statement.rows]
    return {
        "customer": statement.customer.external_id,
        "currency": currency,
        "from": statement.start.isoformat(),
        "to": statement.end.isoformat(),
        "opening_balance": to_str(statement.opening, currency),
        "rows": rows,
        "invoices": [row for row in rows if row["type"] == "invoice"],
        "payments": [row for row in rows if row["type"] == "payment"],
        "credit_notes": [row for row in rows if row["type"] == "credit_note"],
        "totals": {kind: to_str(amount, currency) for kind, amount in statement.totals.items()},
        "closing_balance": to_str(statement.closing, currency),
    }


class CustomerStatementView(MerchantGenericView):
    queryset = Customer.objects.select_related("merchant")
    lookup_field = "external_id"
    content_negotiation_class = FormatIsAParameter

    @extend_schema(
        parameters=[date_parameter("from", "First day; default the first of this month"),
                    date_parameter("to", "Last day, inclusive; default today"),
                    OpenApiParameter("currency", str, description="Default the customer's currency"),
                    format_parameter(FORMATS)],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description=(
                '{"customer", "currency", "from", "to", "opening_balance", "rows": [{"date", "type", "reference", '
                '"description", "amount", "balance", "invoice"}], "invoices", "payments", "credit_notes", "totals", '
                '"closing_balance"}')),
            (200, "application/pdf"): OpenApiTypes.BINARY,
        },
    )  # fmt: skip
    def get(self, request, external_id):
        """Opening balance, every invoice, payment and credit note of the span with a running balance, closing
        balance: closing = opening + invoices − payments − credit notes + refunds + credit given back."""
        customer = self.get_object()
        params = request.query_params
        now = today(customer.merchant.timezone)
        start, end = span_params(params, default_start=now.replace(day=1), default_end=now)
        fmt = format_param(params, FORMATS)
        currency = params.get("currency", "") or customer.currency
        if not is_currency(currency):
            raise ValidationError({"currency": "must be an ISO 4217 currency code"})
        statement = customer_statement(customer=customer, currency=currency, start=start, end=end)
        if fmt == "pdf":
            name = f"statement-{customer.external_id}-{start.isoformat()}-{end.isoformat()}.pdf"
            return inline_pdf(statement_pdf_bytes(statement), "".join(c for c in name if c.isalnum() or c in ".-_"))
        return Response(statement_json(statement))


urlpatterns = [
    re_path(r"^customers/(?P<external_id>[^/]+)/statement/?$", CustomerStatementView.as_view(),
            name="customer-statement"),  # fmt: skip
]
