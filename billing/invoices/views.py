"""Cockpit pages of invoices: the list, the detail with its actions, the PDF."""

import base64
import binascii
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.generic import TemplateView, View

from atlas.tenancy import MerchantPageMixin
from billing.credit_notes.models import CreditNote
from billing.credit_notes.selectors import CREDITABLE_STATES, creditable_lines, creditable_total
from billing.display import money_text
from billing.invoices.models import Invoice
from billing.invoices.pdf import invoice_pdf_context, invoice_pdf_response
from billing.invoices.services import IllegalTransition, invoice_finalize, invoice_void
from billing.payments.models import Payment
from billing.payments.selectors import payments_of_invoice

PAGE_SIZE = 50


def _encode_cursor(invoice: Invoice) -> str:
    raw = f"{invoice.issued_at.isoformat()}|{invoice.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(value: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        instant, pk = raw.split("|")
        parsed = datetime.fromisoformat(instant)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise forms.ValidationError("is not a valid page cursor; start again from the first page") from exc


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *Invoice.Status.choices], required=False)
    customer = forms.CharField(required=False, max_length=255, strip=True)
    issued_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    issued_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    after = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_after(self):
        value = self.cleaned_data["after"]
        return _decode_cursor(value) if value else None

    def clean(self):
        data = super().clean()
        start, end = data.get("issued_from"), data.get("issued_to")
        if start and end and start > end:
            self.add_error("issued_to", "must be on or after the start date")
        return data


class InvoiceListView(MerchantPageMixin, TemplateView):
    """Invoices, newest issue first, filtered; keyset pagination on (issued_at, id), so a page costs the same
    wherever it is."""

    template_name = "billing/invoice_list.html"

    def get(self, request, *args, **kwargs):
        form = InvoiceFilterForm(request.GET)
        if not form.is_valid():
            return self.render_to_response({"form": form, "rows": []}, status=400)
        return self.render_to_response(self.get_context_data(form=form))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form, tz = kwargs["form"], ZoneInfo(self.request.merchant.timezone)
        data = form.cleaned_data
        invoices = self.scoped(Invoice).order_by("-issued_at", "-pk")
        if data["status"]:
            invoices = invoices.filter(status=data["status"])
        if data["customer"]:
            invoices = invoices.filter(
                Q(customer__external_id=data["customer"]) | Q(customer__name__icontains=data["customer"])
            )
        if data["issued_from"]:
            invoices = invoices.filter(issued_at__gte=datetime.combine(data["issued_from"], datetime.min.time(), tz))
        if data["issued_to"]:
            end = datetime.combine(data["issued_to"] + timedelta(days=1), datetime.min.time(), tz)
            invoices = invoices.filter(issued_at__lt=end)
        if data["after"]:
            instant, pk = data["after"]
            invoices = invoices.filter(Q(issued_at__lt=instant) | Q(issued_at=instant, pk__lt=pk))
        page = list(
            invoices.only(
                "pk", "number", "status", "customer_name", "customer_external_id", "currency", "period_start",
                "period_end", "issued_at", "due_at", "total", "amount_paid", "amount_due", "is_final",
            )[: PAGE_SIZE + 1]
        )  # fmt: skip
        has_next = len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE]
        params = self.request.GET.copy()
        params.pop("after", None)
        next_query = None
        if has_next:
            params["after"] = _encode_cursor(page[-1])
            next_query = params.urlencode()
        params.pop("after", None)
        context.update(
            rows=[
                {
                    "invoice": inv,
                    "total": money_text(inv.total, inv.currency),
                    "paid": money_text(inv.amount_paid, inv.currency),
                    "due": money_text(inv.amount_due, inv.currency),
                }
                for inv in page
            ],
            next_query=next_query,
            first_query=params.urlencode() if data["after"] else None,
            statuses=Invoice.Status,
            tz=self.request.merchant.timezone,
        )
        return context


class InvoiceDetailView(MerchantPageMixin, TemplateView):
    """The invoice as its PDF shows it, with the credits drawn, its payments (``billing.payments.selectors``, read as
    the credit notes are), the audit trail and the lifecycle actions."""

    template_name = "billing/invoice_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        invoice = get_object_or_404(
            self.scoped(Invoice)
            .select_related("merchant", "customer", "subscription__plan_version__plan")
            .prefetch_related("lines", "audit", "credit_applications__grant", "credit_notes", "payments__refunds"),
            pk=kwargs["pk"],
        )
        status = Invoice.Status
        currency = invoice.currency
        creditable = creditable_total(invoice)
        context.update(
            credit_notes=[(note, money_text(note.total, currency)) for note in invoice.credit_notes.all()],
            creditable_lines=[
                (credit.line, money_text(credit.remaining, currency))
                for credit in creditable_lines(invoice) if credit.remaining > 0
            ],
            can_credit=invoice.status in CREDITABLE_STATES and creditable > 0,
            creditable_total=money_text(creditable, currency),
            credit_reasons=CreditNote.Reason.choices,
            credit_methods=CreditNote.Method.choices,
        )
        context.update(
            invoice=invoice,
            tz=invoice.merchant.timezone,
            pdf=invoice_pdf_context(invoice),
            credit_applications=[
                (application, money_text(application.amount, invoice.currency))
                for application in invoice.credit_applications.all()
            ],
            can_finalize=invoice.status == status.DRAFT,
            can_void=invoice.status in (status.DRAFT, status.FINALIZED) and not invoice.credited
            and not invoice.amount_paid,
            can_mark_paid=invoice.status == status.FINALIZED,
            payments=[
                {"payment": payment, "amount": money_text(payment.amount, currency),
                 "credited": money_text(payment.amount_credited, currency) if payment.amount_credited else "",
                 "refundable": money_text(payment.refundable, currency) if payment.refundable > 0 else "",
                 "refunds": [(refund, money_text(refund.amount, currency)) for refund in payment.refunds.all()]}
                for payment in payments_of_invoice(invoice)
            ],
            payment_methods=Payment.Method.choices,
            amount_due=money_text(invoice.amount_due, currency),
        )  # fmt: skip
        return context


class InvoiceActionView(MerchantPageMixin, View):
    """POST only: finalize or void through the lifecycle services; an illegal move changes nothing. (Mark paid is a
    payment: ``billing.payments.views``.)"""

    SERVICES = {"finalize": invoice_finalize, "void": invoice_void}
    action = ""

    def post(self, request, pk):
        invoice = get_object_or_404(self.scoped(Invoice), pk=pk)
        actor = f"{request.user.get_username()} (cockpit)"
        try:
            invoice = self.SERVICES[self.action](invoice=invoice, at=timezone.now(), actor=actor)
        except IllegalTransition as exc:
            messages.error(request, f"Nothing changed: {exc}.")
        else:
            messages.success(request, f"Invoice {invoice.number or f'draft {invoice.pk}'} is now {invoice.status}.")
        return redirect("cockpit:invoice", pk=pk)


class InvoicePdfView(MerchantPageMixin, View):
    def get(self, request, pk):
        invoice = get_object_or_404(self.scoped(Invoice).select_related("merchant", "subscription"), pk=pk)
        return invoice_pdf_response(invoice)
