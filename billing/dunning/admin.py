"""Admin of dunning reminders: read-only (the nightly run plans and sends them)."""

from django.contrib import admin

from atlas.admin import ReadOnlyAdmin
from billing.dunning.models import DunningReminder


@admin.register(DunningReminder)
class DunningReminderAdmin(ReadOnlyAdmin):
    list_display = ["invoice", "step", "status", "recipient", "sent_at", "attempts", "merchant"]
    list_filter = ["status", "merchant"]
    search_fields = ["invoice__number", "recipient"]
    list_select_related = ["invoice", "merchant"]
