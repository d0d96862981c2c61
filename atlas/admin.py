"""Admin for the tenancy, plus the shared rules every admin follows.

The Django admin never bypasses the services' rules: a model whose changes carry rules (the last admin of
a merchant, an API key's revocation, a customer's billing window, a published plan, any financial record)
is read-only here, and the few writes the admin offers are actions that call the same service as the
cockpit and the API. Audit entries are read-only everywhere.
"""

from auditlog import get_logentry_model
from django.contrib import admin, messages

from atlas.models import ApiKey, AuditEntry, Membership, Merchant
from atlas.services import api_key_revoke, merchant_update


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, searched and filtered; never added, changed or deleted here (the add, change and delete
    views answer 403)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MerchantOwnedAdmin(admin.ModelAdmin):
    """Base admin for tenant data: filter by merchant, never show secrets."""

    list_filter: tuple = ("merchant",)
    list_select_related: tuple = ("merchant",)
    show_full_result_count = False


class ReadOnlyMerchantOwnedAdmin(ReadOnlyAdmin, MerchantOwnedAdmin):
    pass


class MembershipInline(ReadOnlyInline):
    """Roles change on the cockpit's Team page (the last admin stays an admin)."""

    model = Membership
    fields = ("user", "role", "created_at")
    readonly_fields = fields


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    """Settings edited here are saved through ``merchant_update``, with the model's validation, as in the
    cockpit. Merchants are created with ``manage.py create_merchant`` (first admin and API key included)."""

    list_display = ("name", "slug", "billing_day", "invoice_prefix", "timezone")
    search_fields = ("name", "slug", "company_name")
    readonly_fields = ("slug", "created_at")
    inlines = [MembershipInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        merchant_update(merchant=obj, **{name: form.cleaned_data[name] for name in form.changed_data})


@admin.register(Membership)
class MembershipAdmin(ReadOnlyMerchantOwnedAdmin):
    list_display = ("user", "merchant", "role", "created_at")
    list_filter = ("merchant", "role")
    search_fields = ("user__username", "user__email")


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyMerchantOwnedAdmin):
    """Keys are created in the cockpit or the CLI (the secret is shown once); revoking goes through
    ``api_key_revoke``."""

    list_display = ("name", "prefix", "merchant", "created_at", "last_used_at", "revoked_at")
    list_filter = ("merchant", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix")
    # The hash is useless to a human and the secret is never stored.
    exclude = ("hashed_key",)
    actions = ["revoke"]

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for key in queryset.order_by("pk"):
            api_key_revoke(key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)


if admin.site.is_registered(get_logentry_model()):
    admin.site.unregister(get_logentry_model())  # django-auditlog's own admin allows deleting entries


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyMerchantOwnedAdmin):
    """The audit log is immutable: read here, never added, changed or deleted."""

    list_display = ("timestamp", "merchant", "actor_label", "action", "content_type", "object_repr")
    list_filter = ("merchant", "action", "content_type")
    list_select_related = ("merchant", "content_type")
    search_fields = ("object_repr", "actor_label", "object_pk")
    date_hierarchy = "timestamp"
    exclude = ("serialized_data",)
