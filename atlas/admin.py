from django.contrib import admin

from atlas.models import ApiKey, Membership, Merchant


class MerchantOwnedAdmin(admin.ModelAdmin):
    """Base admin for tenant data: filter by merchant, never show secrets."""

    list_filter: tuple = ("merchant",)
    list_select_related: tuple = ("merchant",)
    show_full_result_count = False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "billing_day", "invoice_prefix", "default_tax_rate", "timezone", "created_at")
    search_fields = ("name", "slug", "company_name")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(MerchantOwnedAdmin):
    list_display = ("user", "merchant", "role", "created_at")
    list_filter = ("merchant", "role")
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("user",)


@admin.register(ApiKey)
class ApiKeyAdmin(MerchantOwnedAdmin):
    list_display = ("name", "prefix", "merchant", "created_at", "last_used_at", "revoked_at")
    list_filter = ("merchant", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix")
    # The hash is useless to a human and the secret is never stored: keys are created in the cockpit or CLI.
    exclude = ("hashed_key",)
    readonly_fields = ("prefix", "created_at", "last_used_at", "created_by")

    def has_add_permission(self, request):
        return False
