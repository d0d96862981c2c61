"""Cockpit pages of billing: the dashboard, invoices (list, detail, PDF, lifecycle actions), analytics, exports.

Views validate their query string with a small form (a bad value is a 400 naming the field, never a 500), read
through ``self.scoped`` and the selectors of ``billing.analytics``, and render.
"""

import base64
import binascii
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.generic import TemplateView, View

from atlas.money import parse_decimal, to_str
from atlas.tenancy import MerchantPageMixin
from billing import analytics, exports
from billing.credit_notes import CREDITABLE_STATES, credit_note_issue, creditable_lines, creditable_total
from billing.models import CreditNote, Invoice
from billing.pdf import credit_note_pdf_response, invoice_pdf_context, invoice_pdf_response
from billing.services import IllegalTransition, invoice_finalize, invoice_mark_paid, invoice_void

PAGE_SIZE = 50
DEFAULT_CURRENCY = "USD"


def _money(amount: Decimal | None, currency: str) -> str:
    """An amount for people: thousands separated, the currency's decimals."""
    if amount is None:
        return ""
    text = to_str(amount, currency)
    whole, _, fraction = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    whole = f"{int(whole.lstrip('-')):,}"
    return f"{sign}{whole}{'.' + fraction if fraction else ''}"


def _percent(ratio: Decimal | None) -> str:
    return "—" if ratio is None else f"{(ratio * 100).quantize(Decimal('0.01'))}%"


class CurrencyMixin:
    """The reporting currency: ``?currency=``, else the merchant's most subscribed one."""

    def currency_choices(self) -> list[str]:
        if not hasattr(self, "_currencies"):
            self._currencies = analytics.reporting_currencies(merchant=self.request.merchant) or [DEFAULT_CURRENCY]
        return self._currencies


def _currency_field(choices: list[str]) -> forms.ChoiceField:
    return forms.ChoiceField(choices=[(code, code) for code in choices], required=False)


# --- dashboard ------------------------------------------------------------------------------------------------


class DashboardForm(forms.Form):
    def __init__(self, *args, currencies: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"] = _currency_field(currencies)


class DashboardView(CurrencyMixin, MerchantPageMixin, TemplateView):
    """MRR now, revenue billed by month, events per day, credits outstanding, top customers."""

    template_name = "billing/dashboard.html"

    def get(self, request, *args, **kwargs):
        currencies = self.currency_choices()
        form = DashboardForm(request.GET, currencies=currencies)
        if not form.is_valid():
            return self.render_to_response({"form": form, "currencies": currencies}, status=400)
        currency = form.cleaned_data["currency"] or currencies[0]
        return self.render_to_response(self.get_context_data(form=form, currency=currency, currencies=currencies))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        merchant, currency, now = self.request.merchant, kwargs["currency"], timezone.now()
        year, month = analytics.month_of(now, merchant.timezone)
        months = analytics.months_ending(year=year, month=month, count=12, timezone=merchant.timezone)
        mrr = analytics.mrr_report(merchant=merchant, currency=currency, months=months[-2:], now=now)
        revenue = analytics.revenue_by_month(merchant=merchant, currency=currency, months=months)
        today = now.astimezone(ZoneInfo(merchant.timezone)).date()
        events = analytics.events_per_day(merchant=merchant, start=today - timedelta(days=29), days=30)
        credits = analytics.credits_outstanding(merchant=merchant)
        top = analytics.top_customers(merchant=merchant, currency=currency, since=months[0].start)
        current, previous = mrr.months[-1], mrr.months[-2]
        context.update(
            mrr=_money(current.mrr, currency),
            mrr_change=_money(current.mrr - previous.mrr, currency),
            mrr_up=current.mrr >= previous.mrr,
            paying_customers=current.customers,
            revenue_12m=_money(sum((amount for _, amount in revenue), Decimal(0)), currency),
            events_30d=f"{sum(n for _, n in events):,}",
            credits=[(code, _money(amount, code)) for code, amount in credits.items()],
            top_customers=[{**row, "revenue_text": _money(row["revenue"], currency)} for row in top],
            charts={
                "revenue": {"labels": [m.label for m, _ in revenue], "values": [str(v) for _, v in revenue]},
                "events": {"labels": [d.isoformat() for d, _ in events], "values": [n for _, n in events]},
                "currency": currency,
            },
        )
        return context


# --- invoices -------------------------------------------------------------------------------------------------


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
                "period_end", "issued_at", "due_at", "total", "amount_due",
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
                {"invoice": inv, "total": _money(inv.total, inv.currency), "due": _money(inv.amount_due, inv.currency)}
                for inv in page
            ],
            next_query=next_query,
            first_query=params.urlencode() if data["after"] else None,
            statuses=Invoice.Status,
        )
        return context


class InvoiceDetailView(MerchantPageMixin, TemplateView):
    """The invoice as its PDF shows it, with the credits drawn, the audit trail and the lifecycle actions."""

    template_name = "billing/invoice_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        invoice = get_object_or_404(
            self.scoped(Invoice)
            .select_related("merchant", "customer", "subscription__plan_version__plan")
            .prefetch_related("lines", "audit", "credit_applications__grant", "credit_notes"),
            pk=kwargs["pk"],
        )
        status = Invoice.Status
        currency = invoice.currency
        creditable = creditable_total(invoice)
        context.update(
            credit_notes=[(note, _money(note.total, currency)) for note in invoice.credit_notes.all()],
            creditable_lines=[
                (credit.line, _money(credit.remaining, currency))
                for credit in creditable_lines(invoice) if credit.remaining > 0
            ],
            can_credit=invoice.status in CREDITABLE_STATES and creditable > 0,
            creditable_total=_money(creditable, currency),
            credited=_money(invoice.credited, currency),
            credit_reasons=CreditNote.Reason.choices,
            credit_methods=CreditNote.Method.choices,
        )
        context.update(
            invoice=invoice,
            pdf=invoice_pdf_context(invoice),
            credit_applications=[
                (application, _money(application.amount, invoice.currency))
                for application in invoice.credit_applications.all()
            ],
            can_finalize=invoice.status == status.DRAFT,
            can_void=invoice.status in (status.DRAFT, status.FINALIZED) and not invoice.credited,
            can_mark_paid=invoice.status == status.FINALIZED,
        )
        return context


class InvoiceActionView(MerchantPageMixin, View):
    """POST only: finalize, void or mark paid through the lifecycle services; an illegal move changes nothing."""

    SERVICES = {"finalize": invoice_finalize, "void": invoice_void, "mark-paid": invoice_mark_paid}
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


class InvoiceCreditNoteView(MerchantPageMixin, View):
    """POST only: issue a credit note from the invoice page's form (one amount field per line, blank = 0)."""

    def post(self, request, pk):
        invoice = get_object_or_404(self.scoped(Invoice).prefetch_related("lines"), pk=pk)
        described: list[str] = []
        credits: list[tuple[int, Decimal]] = []
        try:
            for line in invoice.lines.all():
                raw = request.POST.get(f"amount_{line.pk}", "").strip()
                if not raw:
                    continue
                described.append(line.description)
                try:
                    credits.append((line.pk, parse_decimal(raw)))
                except ValueError as exc:
                    raise ValidationError({f"lines[{len(credits)}].amount": str(exc)}) from None
            note = credit_note_issue(
                invoice=invoice, lines=credits, reason=request.POST.get("reason", ""),
                memo=request.POST.get("memo", "").strip(), method=request.POST.get("method") or None,
                at=timezone.now(), actor=f"{request.user.get_username()} (cockpit)",
            )  # fmt: skip
        except IllegalTransition as exc:
            messages.error(request, f"Nothing changed: {exc}.")
        except ValidationError as exc:
            messages.error(request, "Nothing changed: " + "; ".join(
                f"{_field_label(field, described)} {message}" for field, errors in exc.message_dict.items()
                for message in errors))  # fmt: skip
        else:
            messages.success(request, f"Credit note {note.number} issued: {_money(note.total, note.currency)} "
                                      f"{note.currency}.")  # fmt: skip
        return redirect("cockpit:invoice", pk=pk)


def _field_label(field: str, described: list[str]) -> str:
    """``lines[1].amount`` as the form shows it: the line's description."""
    if field.startswith("lines[") and "]" in field:
        index = int(field[6 : field.index("]")])
        return f"{described[index]}:" if index < len(described) else "Amounts:"
    return {"lines": "Amounts:", "reason": "Reason:", "method": "Refund method:", "memo": "Memo:"}.get(field, field)


class CreditNotePdfView(MerchantPageMixin, View):
    def get(self, request, pk, note_pk):
        note = get_object_or_404(
            self.scoped(CreditNote).select_related("invoice__merchant").prefetch_related("lines"),
            pk=note_pk, invoice_id=pk,
        )
        return credit_note_pdf_response(note)


class InvoicePdfView(MerchantPageMixin, View):
    def get(self, request, pk):
        invoice = get_object_or_404(self.scoped(Invoice).select_related("merchant", "subscription"), pk=pk)
        return invoice_pdf_response(invoice)


# --- analytics ------------------------------------------------------------------------------------------------


class AnalyticsForm(forms.Form):
    months = forms.IntegerField(required=False, min_value=2, max_value=36)
    end = forms.RegexField(required=False, regex=r"^\d{4}-(0[1-9]|1[0-2])$",
                           error_messages={"invalid": "must be a month as YYYY-MM"})  # fmt: skip

    def __init__(self, *args, currencies: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"] = _currency_field(currencies)

    def clean_end(self):
        value = self.cleaned_data["end"]
        if value and not 2000 <= int(value[:4]) <= 2100:
            raise forms.ValidationError("must be a month between 2000 and 2100")
        return value


class AnalyticsView(CurrencyMixin, MerchantPageMixin, TemplateView):
    """MRR movements and NRR per month; revenue recognised versus deferred for in-advance fees."""

    template_name = "billing/analytics.html"

    def get(self, request, *args, **kwargs):
        currencies = self.currency_choices()
        form = AnalyticsForm(request.GET, currencies=currencies)
        if not form.is_valid():
            return self.render_to_response({"form": form, "currencies": currencies}, status=400)
        return self.render_to_response(self.get_context_data(form=form, currencies=currencies))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        merchant, now = self.request.merchant, timezone.now()
        data = kwargs["form"].cleaned_data
        currency = data["currency"] or kwargs["currencies"][0]
        if data["end"]:
            year, month = int(data["end"][:4]), int(data["end"][5:])
        else:
            year, month = analytics.month_of(now, merchant.timezone)
        months = analytics.months_ending(year=year, month=month, count=data["months"] or 12, timezone=merchant.timezone)
        months = [m for m in months if m.start <= now] or months[:1]
        report = analytics.mrr_report(merchant=merchant, currency=currency, months=months, now=now)
        schedule = analytics.deferred_revenue_report(merchant=merchant, currency=currency, months=months, now=now)

        def money(value):
            return _money(value, currency)

        mrr_rows = [
            {
                "label": row.month.label, "starting": money(row.starting), "new": money(row.movements.new),
                "expansion": money(row.movements.expansion), "contraction": money(row.movements.contraction),
                "churn": money(row.movements.churn), "mrr": money(row.mrr), "customers": row.customers,
                "nrr": _percent(row.nrr),
            }
            for row in report.months
        ]  # fmt: skip
        revenue_rows = [
            {"label": row.month.label, "billed": money(row.billed), "recognised": money(row.recognised),
             "deferred": money(row.deferred)}
            for row in schedule
        ]  # fmt: skip
        context.update(
            currency=currency,
            end_month=months[-1].label,
            report=report,
            nrr=_percent(report.nrr),
            mrr_now=money(report.months[-1].mrr),
            span=f"{months[0].label} – {months[-1].label}",
            mrr_rows=mrr_rows,
            revenue_rows=revenue_rows,
            deferred_now=money(schedule[-1].deferred),
            charts={
                "labels": [m.label for m in months],
                "mrr": [str(row.mrr) for row in report.months],
                "new": [str(row.movements.new) for row in report.months],
                "expansion": [str(row.movements.expansion) for row in report.months],
                "contraction": [str(row.movements.contraction) for row in report.months],
                "churn": [str(row.movements.churn) for row in report.months],
                "recognised": [str(row.recognised) for row in schedule],
                "deferred": [str(row.deferred) for row in schedule],
                "currency": currency,
            },
        )
        return context


# --- exports --------------------------------------------------------------------------------------------------


class ExportForm(forms.Form):
    kind = forms.ChoiceField(choices=[("invoices", "Invoices"), ("usage", "Usage"),
                                      ("credit_notes", "Credit notes")])  # fmt: skip
    format = forms.ChoiceField(choices=[("csv", "CSV"), ("xlsx", "Excel (.xlsx)")])
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "must be on or after the start date")
        return data


def _last_month(merchant) -> dict:
    today = timezone.now().astimezone(ZoneInfo(merchant.timezone)).date()
    end = today.replace(day=1) - timedelta(days=1)
    return {"kind": "invoices", "format": "csv", "start": end.replace(day=1), "end": end}


class ExportsView(MerchantPageMixin, TemplateView):
    template_name = "billing/exports.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", ExportForm(initial=_last_month(self.request.merchant)))
        context["invoice_columns"] = [column.name for column in exports.INVOICE_COLUMNS]
        context["usage_columns"] = [column.name for column in exports.USAGE_COLUMNS]
        return context


class ExportDownloadView(ExportsView):
    """The file itself: CSV streamed, Excel written to a temporary file; a bad form is the page again, 400."""

    def get(self, request, *args, **kwargs):
        form = ExportForm(request.GET)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        merchant, data = request.merchant, form.cleaned_data
        kind, fmt, start, end = data["kind"], data["format"], data["start"], data["end"]
        columns, rows = exports.export_source(merchant=merchant, kind=kind, start=start, end=end)
        filename = exports.export_filename(merchant=merchant, kind=kind, start=start, end=end, fmt=fmt)
        if fmt == "csv":
            response = StreamingHttpResponse(
                exports.csv_lines(columns, rows, timezone=merchant.timezone), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        handle = exports.xlsx_file(columns, rows, title=kind.replace("_", " ").title(), timezone=merchant.timezone)
        return FileResponse(
            handle, as_attachment=True, filename=filename,
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )  # fmt: skip
