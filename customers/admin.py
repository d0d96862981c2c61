from django.contrib import admin

from atlas.admin import MerchantOwnedAdmin
from customers.models import BillingRule, Customer, CustomerUser, ProvisioningChange


@admin.register(Customer)
class CustomerAdmin(MerchantOwnedAdmin):
    list_display = (
        "external_id",
        "name",
        "email",
        "currency",
        "is_test",
        "billing_starts_on",
        "billing_ends_on",
        "archived_at",
        "merchant",
    )
    list_filter = ("merchant", "is_test", "currency", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("external_id", "name", "email")
    raw_id_fields = ("parent",)
    readonly_fields = ("created_at", "updated_at")


class ProvisioningChangeInline(admin.TabularInline):
    """The history is append-only: shown, never edited here."""

    model = ProvisioningChange
    extra = 0
    can_delete = False
    fields = ("action", "effective_at", "recorded_at", "actor_label", "snapshot")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CustomerUser)
class CustomerUserAdmin(MerchantOwnedAdmin):
    """Users change through the API (each change is also a seat event); the admin only reads them."""

    list_display = ("external_id", "email", "name", "customer", "provisioned_at", "deprovisioned_at", "merchant")
    list_filter = ("merchant", ("deprovisioned_at", admin.EmptyFieldListFilter))
    list_select_related = ("merchant", "customer")
    search_fields = ("external_id", "email", "name", "customer__external_id")
    readonly_fields = (
        "merchant",
        "customer",
        "external_id",
        "email",
        "name",
        "provisioned_at",
        "deprovisioned_at",
        "created_at",
    )
    inlines = [ProvisioningChangeInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ProvisioningChange)
class ProvisioningChangeAdmin(MerchantOwnedAdmin):
    list_display = ("user", "customer", "action", "effective_at", "actor_label", "recorded_at")
    list_filter = ("merchant", "action")
    list_select_related = ("merchant", "customer", "user")
    search_fields = ("user__external_id", "user__email", "customer__external_id", "actor_label")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BillingRule)
class BillingRuleAdmin(MerchantOwnedAdmin):
    list_display = ("name", "target", "pattern", "starts_on", "ends_on", "merchant")
    list_filter = ("merchant", "target")
    search_fields = ("name", "pattern")
