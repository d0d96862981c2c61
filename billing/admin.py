"""Admin for billing: every financial record is read-only here (SPEC §2). Subscriptions, invoices, credit
notes, credits and payments change only through their services, from the cockpit, the API or the billing run."""

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse

from atlas.admin import ReadOnlyAdmin, ReadOnlyInline
from billing.credit_notes.models import CreditNote, CreditNoteLine
from billing.credits.models import CreditApplication, CreditGrant, CreditLedgerEntry
from billing.invoices.models import Invoice, InvoiceEvent, InvoiceLine
from billing.payments.models import BankTransaction, Payment, Refund
from billing.runs.models import BillingRun
from billing.subscriptions.models import Subscription


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["external_id", "merchant", "customer", "plan_version", "started_at", "ends_at"]
    list_filter = ["merchant", "billing_anchor", ("ends_at", admin.EmptyFieldListFilter)]
    search_fields = ["external_id", "customer__external_id", "customer__name", "plan_version__plan__code"]
    list_select_related = ["merchant", "customer", "plan_version__plan"]

    def add_view(self, request, form_url="", extra_context=None):
        """"Add subscription" sends staff to the cockpit, where Subscribe applies the service's rules (the admin
        would bypass them), instead of answering 403."""
        if not self.has_view_permission(request):
            return super().add_view(request, form_url, extra_context)
        messages.info(request, "Subscriptions are added in the cockpit: open the customer and choose Subscribe.")
        return redirect(reverse("cockpit:customers"))


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fk_name = "invoice"
    fields = ["type", "description", "metric_code", "quantity", "amount", "events_count", "service_start",
              "service_end"]  # fmt: skip
    readonly_fields = fields


class InvoiceEventInline(ReadOnlyInline):
    model = InvoiceEvent
    readonly_fields = ["from_state", "to_state", "actor", "at", "note"]
    fields = readonly_fields


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "merchant", "customer_name", "status", "period_start", "total"]
    list_filter = ["status", "merchant"]
    list_select_related = ["merchant"]
    search_fields = ["number", "customer_name", "customer_external_id", "subscription__external_id"]
    inlines = [InvoiceLineInline, InvoiceEventInline]


@admin.register(InvoiceLine)
class InvoiceLineAdmin(ReadOnlyAdmin):
    list_display = ["invoice", "type", "description", "quantity", "amount"]
    list_filter = ["type", "merchant"]
    list_select_related = ["invoice"]
    search_fields = ["invoice__number", "description", "metric_code"]


@admin.register(InvoiceEvent)
class InvoiceEventAdmin(ReadOnlyAdmin):
    list_display = ["invoice", "from_state", "to_state", "actor", "at"]
    list_filter = ["to_state", "merchant"]
    list_select_related = ["invoice"]
    search_fields = ["invoice__number", "actor"]


class CreditNoteLineInline(ReadOnlyInline):
    model = CreditNoteLine
    fields = ["invoice_line", "description", "amount"]
    readonly_fields = fields


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    """Issued from the invoice page or the API (credit_note_issue); issued notes never change."""

    list_display = ["number", "merchant", "invoice", "reason", "total", "issued_at"]
    list_filter = ["reason", "merchant"]
    search_fields = ["number", "invoice__number", "customer__external_id", "memo"]
    list_select_related = ["merchant", "invoice"]
    inlines = [CreditNoteLineInline]


@admin.register(CreditNoteLine)
class CreditNoteLineAdmin(ReadOnlyAdmin):
    list_display = ["credit_note", "description", "amount"]
    list_select_related = ["credit_note"]
    search_fields = ["credit_note__number", "description"]


@admin.register(CreditGrant)
class CreditGrantAdmin(ReadOnlyAdmin):
    """Grants go through credit_grant_create so the ledger gets its entry."""

    list_display = ["pk", "merchant", "customer", "amount", "currency", "expires_at"]
    list_filter = ["merchant", "currency"]
    list_select_related = ["merchant", "customer"]
    search_fields = ["customer__external_id", "customer__name", "reason"]


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["pk", "customer", "grant", "kind", "amount", "invoice", "at"]
    list_filter = ["kind", "merchant"]
    list_select_related = ["customer", "grant", "invoice"]


@admin.register(CreditApplication)
class CreditApplicationAdmin(ReadOnlyAdmin):
    list_display = ["pk", "invoice", "grant", "amount", "merchant"]
    list_filter = ["merchant"]
    list_select_related = ["invoice", "grant", "merchant"]


@admin.register(BillingRun)
class BillingRunAdmin(ReadOnlyAdmin):
    list_display = ["pk", "as_of", "merchant", "status", "trigger", "started_at", "finished_at"]
    list_filter = ["status"]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["pk", "merchant", "invoice", "amount", "currency", "method", "source", "paid_at", "actor_label"]
    list_filter = ["method", "source", "merchant"]
    list_select_related = ["merchant", "invoice"]
    search_fields = ["invoice__number", "customer__external_id", "reference"]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["pk", "merchant", "payment", "amount", "currency", "refunded_at", "actor_label"]
    list_filter = ["merchant"]
    list_select_related = ["merchant", "payment"]


@admin.register(BankTransaction)
class BankTransactionAdmin(ReadOnlyAdmin):
    list_display = ["pk", "merchant", "date", "amount", "currency", "reference", "status", "matched_by"]
    list_filter = ["status", "matched_by", "merchant"]
    list_select_related = ["merchant"]
    search_fields = ["reference", "file_name"]


import billing.dunning.admin  # noqa: E402,F401  (dunning keeps its admin in its room)
