"""Admin for customers: read-only. Customers, users and billing rules change in the cockpit or the API through
``customers.services`` and ``metering.provisioning`` (the billing window, the currency of a customer with
subscriptions, a user's seat events, the provisioning history)."""

from django.contrib import admin

from atlas.admin import ReadOnlyInline, ReadOnlyMerchantOwnedAdmin
from customers.models import BillingRule, Customer, CustomerUser, ProvisioningChange


@admin.register(Customer)
class CustomerAdmin(ReadOnlyMerchantOwnedAdmin):
    list_display = ("external_id", "name", "currency", "is_test", "archived_at", "merchant")
    list_filter = ("merchant", "is_test", "currency", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("external_id", "name", "email")


class ProvisioningChangeInline(ReadOnlyInline):
    """The history is append-only: shown, never edited here."""

    model = ProvisioningChange
    fields = ("action", "effective_at", "recorded_at", "actor_label", "snapshot")
    readonly_fields = fields


@admin.register(CustomerUser)
class CustomerUserAdmin(ReadOnlyMerchantOwnedAdmin):
    list_display = ("external_id", "email", "customer", "provisioned_at", "deprovisioned_at", "merchant")
    list_filter = ("merchant", ("deprovisioned_at", admin.EmptyFieldListFilter))
    list_select_related = ("merchant", "customer")
    search_fields = ("external_id", "email", "name", "customer__external_id")
    inlines = [ProvisioningChangeInline]


@admin.register(ProvisioningChange)
class ProvisioningChangeAdmin(ReadOnlyMerchantOwnedAdmin):
    list_display = ("user", "customer", "action", "effective_at", "actor_label")
    list_filter = ("merchant", "action")
    list_select_related = ("merchant", "customer", "user")
    search_fields = ("user__external_id", "user__email", "customer__external_id", "actor_label")


@admin.register(BillingRule)
class BillingRuleAdmin(ReadOnlyMerchantOwnedAdmin):
    """Managed on the cockpit's Billing rules page."""

    list_display = ("name", "target", "pattern", "starts_on", "ends_on", "merchant")
    list_filter = ("merchant", "target")
    search_fields = ("name", "pattern")
