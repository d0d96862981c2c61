"""Admin of dunning reminders: read-only (the nightly run plans and sends them)."""

from django.contrib import admin

from billing.dunning.models import DunningReminder


@admin.register(DunningReminder)
class DunningReminderAdmin(admin.ModelAdmin):
    list_display = ["invoice", "step", "status", "recipient", "sent_at", "attempts", "merchant"]
    list_filter = ["status", "merchant"]
    search_fields = ["invoice__number", "recipient"]
    list_select_related = ["invoice", "merchant"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in DunningReminder._meta.fields]

    def has_add_permission(self, request):
        return False
