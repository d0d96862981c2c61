"""Cockpit pages of payments: the Payments list, recording a payment and marking paid from the invoice page,
refunds, and the bank statement import (upload → preview → confirm, and unmatched lines assigned by hand)."""

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.generic import TemplateView, View

from atlas.api.exceptions import Conflict
from atlas.money import parse_decimal
from atlas.tenancy import MerchantEditMixin, MerchantPageMixin
from billing.display import money_text
from billing.invoices.models import Invoice
from billing.invoices.services import IllegalTransition
from billing.payments.bank_import import bank_statement_import, bank_transaction_assign, bank_transaction_dismiss
from billing.payments.models import BankTransaction, Payment
from billing.payments.services import invoice_mark_paid, payment_record, payment_refund
from metering.provisioning import Actor

PAGE_SIZE = 100
SESSION_KEY = "bank_import_tokens"


def cockpit_actor(request) -> Actor:
    """The staff user, labelled as the invoice audit trail labels cockpit actions."""
    return Actor(user=request.user, label=f"{request.user.get_username()} (cockpit)")


def _errors_text(exc: ValidationError) -> str:
    return "; ".join(f"{field.replace('_', ' ')} {message}" for field, errors in exc.message_dict.items()
                     for message in errors)  # fmt: skip


class PaymentFilterForm(forms.Form):
    customer = forms.CharField(required=False, max_length=255, strip=True)
    method = forms.ChoiceField(choices=[("", "Any method"), *Payment.Method.choices], required=False)
    paid_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    paid_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class PaymentListView(MerchantPageMixin, TemplateView):
    """Every payment, most recently recorded first, filtered by customer, method and date paid."""

    template_name = "billing/payment_list.html"

    def get(self, request, *args, **kwargs):
        form = PaymentFilterForm(request.GET)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form, rows=[]), status=400)
        data, tz = form.cleaned_data, ZoneInfo(request.merchant.timezone)
        payments = self.scoped(Payment).select_related("invoice", "customer").order_by("-pk")
        if data["customer"]:
            payments = payments.filter(Q(customer__external_id=data["customer"])
                                       | Q(customer__name__icontains=data["customer"]))  # fmt: skip
        if data["method"]:
            payments = payments.filter(method=data["method"])
        if data["paid_from"]:
            payments = payments.filter(paid_at__gte=datetime.combine(data["paid_from"], time.min, tz))
        if data["paid_to"]:
            payments = payments.filter(paid_at__lt=datetime.combine(data["paid_to"] + timedelta(days=1), time.min, tz))
        if data["before"]:
            payments = payments.filter(pk__lt=data["before"])
        page = list(payments[: PAGE_SIZE + 1])
        params = request.GET.copy()
        params.pop("before", None)
        next_query = None
        if len(page) > PAGE_SIZE:
            page = page[:PAGE_SIZE]
            params["before"] = page[-1].pk
            next_query = params.urlencode()
        rows = [{"payment": p, "amount": money_text(p.amount, p.currency),
                 "credited": money_text(p.amount_credited, p.currency) if p.amount_credited else "",
                 "refunded": money_text(p.amount_refunded, p.currency) if p.amount_refunded else ""}
                for p in page]  # fmt: skip
        unmatched = self.scoped(BankTransaction).filter(status=BankTransaction.Status.UNMATCHED).count()
        context = self.get_context_data(form=form, rows=rows, next_query=next_query, tz=request.merchant.timezone,
                                        unmatched=unmatched)  # fmt: skip
        return self.render_to_response(context)


class PaymentForm(forms.Form):
    amount = forms.CharField(max_length=40)
    method = forms.ChoiceField(choices=Payment.Method.choices)
    paid_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    reference = forms.CharField(required=False, max_length=255)

    def clean_amount(self):
        try:
            return parse_decimal(self.cleaned_data["amount"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class InvoicePaymentView(MerchantPageMixin, View):
    """POST only: record a payment from the invoice page's form; an error says why and changes nothing."""

    def post(self, request, pk):
        invoice = get_object_or_404(self.scoped(Invoice), pk=pk)
        form = PaymentForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Nothing changed: " + "; ".join(
                f"{name.replace('_', ' ')} {error}" for name, errors in form.errors.items() for error in errors))
            return redirect("cockpit:invoice", pk=pk)
        data = form.cleaned_data
        paid_at = None
        if data["paid_on"]:
            paid_at = datetime.combine(data["paid_on"], time.min, ZoneInfo(request.merchant.timezone))
        try:
            payment = payment_record(invoice=invoice, amount=data["amount"], method=data["method"], paid_at=paid_at,
                                     reference=data["reference"].strip(), actor=cockpit_actor(request))  # fmt: skip
        except IllegalTransition as exc:
            messages.error(request, f"Nothing changed: {exc}.")
        except ValidationError as exc:
            messages.error(request, f"Nothing changed: {_errors_text(exc)}.")
        else:
            done = f"Payment of {money_text(payment.amount, payment.currency)} {payment.currency} recorded."
            if payment.amount_credited:
                done += f" {money_text(payment.amount_credited, payment.currency)} became customer credit."
            messages.success(request, done)
        return redirect("cockpit:invoice", pk=pk)


class InvoiceMarkPaidView(MerchantPageMixin, View):
    """POST only: record a payment of what is due."""

    def post(self, request, pk):
        invoice = get_object_or_404(self.scoped(Invoice), pk=pk)
        try:
            invoice = invoice_mark_paid(invoice=invoice, at=timezone.now(), actor=cockpit_actor(request))
        except IllegalTransition as exc:
            messages.error(request, f"Nothing changed: {exc}.")
        else:
            messages.success(request, f"Invoice {invoice.number} is now {invoice.status}.")
        return redirect("cockpit:invoice", pk=pk)


class RefundForm(forms.Form):
    amount = forms.CharField(max_length=40)
    reason = forms.CharField(required=False, max_length=500)

    def clean_amount(self):
        try:
            return parse_decimal(self.cleaned_data["amount"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class PaymentRefundView(MerchantPageMixin, View):
    """POST only: refund part or all of a payment from the invoice page."""

    def post(self, request, pk):
        payment = get_object_or_404(self.scoped(Payment).select_related("invoice"), pk=pk)
        form = RefundForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Nothing changed: " + "; ".join(
                f"{name} {error}" for name, errors in form.errors.items() for error in errors))
            return redirect("cockpit:invoice", pk=payment.invoice_id)
        try:
            data = form.cleaned_data
            refund = payment_refund(payment=payment, amount=data["amount"], reason=data["reason"].strip(),
                                    actor=cockpit_actor(request))  # fmt: skip
        except ValidationError as exc:
            messages.error(request, f"Nothing changed: {_errors_text(exc)}.")
        else:
            messages.success(request, f"Refund of {money_text(refund.amount, refund.currency)} {refund.currency} "
                                      f"recorded.")  # fmt: skip
        return redirect("cockpit:invoice", pk=payment.invoice_id)


class BankImportForm(forms.Form):
    file = forms.FileField(help_text="CSV with the columns date, amount, currency, reference.")


class BankImportView(MerchantEditMixin, TemplateView):
    """Upload → preview (a dry run: every row matched, unmatched or refused, as the import would do it) → confirm
    (the same stored file, imported). Below, the unmatched lines, each assignable to an open invoice by hand."""

    template_name = "billing/payment_import.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", BankImportForm())
        unmatched = list(self.scoped(BankTransaction).filter(status=BankTransaction.Status.UNMATCHED)
                         .order_by("date", "pk")[:200])  # fmt: skip
        currencies = {line.currency for line in unmatched}
        open_invoices = list(self.scoped(Invoice).filter(status=Invoice.Status.FINALIZED, currency__in=currencies)
                             .order_by("number")[:500])  # fmt: skip
        context.update(
            unmatched=[{"line": line, "amount": money_text(line.amount, line.currency),
                        "invoices": [(inv.pk, f"{inv.number} · {inv.customer_name} · "
                                              f"{money_text(inv.amount_due, inv.currency)} due")
                                     for inv in open_invoices if inv.currency == line.currency]}
                       for line in unmatched],
            tz=self.request.merchant.timezone,
        )  # fmt: skip
        return context

    def post(self, request):
        if "token" in request.POST:
            return self._confirm(request)
        form = BankImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        upload = form.cleaned_data["file"]
        data = upload.read()
        try:
            report = bank_statement_import(merchant=request.merchant, data=data, file_name=upload.name, dry_run=True,
                                           actor=cockpit_actor(request))  # fmt: skip
        except Conflict as exc:
            messages.error(request, str(exc.detail))
            return redirect("cockpit:payment-import")
        context = {"report": report, "preview": report.answer() if report.ok else None, "filename": upload.name,
                   "errors": report.errors[:1000]}  # fmt: skip
        if report.ok:
            token = uuid.uuid4().hex
            default_storage.save(self._path(token), ContentFile(data))
            request.session[SESSION_KEY] = [*request.session.get(SESSION_KEY, [])[-4:], [token, upload.name]]
            context["token"] = token
        return self.render_to_response(self.get_context_data(**context), status=200 if report.ok else 400)

    def _confirm(self, request):
        token = request.POST.get("token", "")
        known = dict(request.session.get(SESSION_KEY, []))
        path = self._path(token) if token in known else None
        if path is None or not default_storage.exists(path):
            messages.error(request, "This preview has expired; upload the file again.")
            return redirect("cockpit:payment-import")
        with default_storage.open(path, "rb") as stored:
            data = stored.read()
        try:
            report = bank_statement_import(merchant=request.merchant, data=data, file_name=known[token],
                                           actor=cockpit_actor(request))  # fmt: skip
        except Conflict as exc:
            messages.error(request, str(exc.detail))
            return redirect("cockpit:payment-import")
        default_storage.delete(path)
        request.session[SESSION_KEY] = [[t, n] for t, n in known.items() if t != token]
        if not report.ok:
            context = {"report": report, "errors": report.errors[:1000]}
            return self.render_to_response(self.get_context_data(**context), status=400)
        answer = report.answer()
        messages.success(request, f"Imported {report.rows} rows: {answer['matched']} matched, {answer['unmatched']} "
                                  f"unmatched, {answer['duplicates']} duplicates, {answer['ignored']} ignored.")
        return redirect("cockpit:payment-import")

    def _path(self, token: str) -> str:
        # The merchant is part of the path: a token never opens another merchant's upload.
        return f"bank-imports/{self.request.merchant.pk}/{token}.csv"


class BankTransactionAssignView(MerchantEditMixin, View):
    """POST only: pay the chosen open invoice with an unmatched statement line."""

    def post(self, request, pk):
        line = get_object_or_404(self.scoped(BankTransaction), pk=pk)
        invoice_id = request.POST.get("invoice", "")
        invoice = self.scoped(Invoice).filter(pk=int(invoice_id)).first() if invoice_id.isdigit() else None
        if invoice is None:
            messages.error(request, "Nothing changed: choose an invoice.")
            return redirect("cockpit:payment-import")
        try:
            payment = bank_transaction_assign(bank_transaction=line, invoice=invoice, actor=cockpit_actor(request))
        except IllegalTransition as exc:
            messages.error(request, f"Nothing changed: {exc}.")
        except ValidationError as exc:
            messages.error(request, f"Nothing changed: {_errors_text(exc)}.")
        else:
            messages.success(request, f"{money_text(payment.amount, payment.currency)} {payment.currency} of "
                                      f"{line.date:%Y-%m-%d} paid to {invoice.number}.")  # fmt: skip
        return redirect("cockpit:payment-import")


class BankTransactionDismissView(MerchantEditMixin, View):
    """POST only: set aside an unmatched statement line that pays no invoice, with the reason."""

    def post(self, request, pk):
        line = get_object_or_404(self.scoped(BankTransaction), pk=pk)
        try:
            bank_transaction_dismiss(bank_transaction=line, reason=request.POST.get("reason", ""),
                                     actor=cockpit_actor(request))  # fmt: skip
        except ValidationError as exc:
            messages.error(request, f"Nothing changed: {_errors_text(exc)}")
        else:
            messages.success(request, f"The line of {line.date:%Y-%m-%d} ({line.reference or 'no reference'}) "
                                      "was dismissed.")  # fmt: skip
        return redirect("cockpit:payment-import")
