from django.contrib import admin

from billing.credit_notes.models import CreditNote, CreditNoteLine
from billing.credits.models import CreditGrant, CreditLedgerEntry
from billing.invoices.models import Invoice, InvoiceEvent, InvoiceLine
from billing.runs.models import BillingRun
from billing.subscriptions.models import Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Subscriptions change through their services (create, change plan, cancel): read-only here."""

    list_display = ["external_id", "merchant", "customer", "plan_version", "started_at", "ends_at", "billing_anchor"]
    list_filter = ["merchant", "billing_anchor", ("ends_at", admin.EmptyFieldListFilter)]
    search_fields = ["external_id", "customer__external_id", "customer__name", "plan_version__plan__code"]
    list_select_related = ["merchant", "customer", "plan_version__plan"]
    raw_id_fields = ["customer", "plan_version", "previous"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Subscription._meta.fields]

    def has_add_permission(self, request):
        return False


# Finalized invoices and the credit ledger never change: their admin is read-only.


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fk_name = "invoice"
    extra = 0
    can_delete = False
    fields = ["type", "description", "metric_code", "quantity", "amount", "events_count", "service_start",
              "service_end"]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class InvoiceEventInline(admin.TabularInline):
    model = InvoiceEvent
    extra = 0
    can_delete = False
    readonly_fields = ["from_state", "to_state", "actor", "at", "note"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["__str__", "merchant", "customer_name", "status", "period_start", "total", "amount_due"]
    list_filter = ["status", "merchant"]
    search_fields = ["number", "customer_name", "customer_external_id", "subscription__external_id"]
    inlines = [InvoiceLineInline, InvoiceEventInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Invoice._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CreditNoteLineInline(admin.TabularInline):
    model = CreditNoteLine
    extra = 0
    can_delete = False
    fields = ["invoice_line", "description", "amount"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CreditNote)
class CreditNoteAdmin(admin.ModelAdmin):
    """Issued from the invoice page or the API (credit_note_issue); issued notes never change."""

    list_display = ["number", "merchant", "invoice", "reason", "total", "currency", "issued_at"]
    list_filter = ["reason", "merchant"]
    search_fields = ["number", "invoice__number", "customer__external_id", "memo"]
    list_select_related = ["merchant", "invoice"]
    inlines = [CreditNoteLineInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in CreditNote._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CreditGrant)
class CreditGrantAdmin(admin.ModelAdmin):
    list_display = ["pk", "merchant", "customer", "amount", "currency", "priority", "expires_at", "expired_at"]
    list_filter = ["merchant", "currency"]
    search_fields = ["customer__external_id", "customer__name", "reason"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in CreditGrant._meta.fields]

    def has_add_permission(self, request):
        return False  # grants go through credit_grant_create so the ledger gets its entry


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(admin.ModelAdmin):
    list_display = ["pk", "customer", "grant", "kind", "amount", "invoice", "at"]
    list_filter = ["kind", "merchant"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BillingRun)
class BillingRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "as_of", "merchant", "status", "trigger", "started_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = ["merchant", "as_of", "status", "trigger", "started_at", "finished_at", "stats", "error"]
import billing.dunning.admin  # noqa: E402,F401  (dunning keeps its admin in its room)
