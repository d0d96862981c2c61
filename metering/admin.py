"""Admin for metering. Events are read-only here: they are written only by ``events_ingest`` and the
usage buckets are derived from them, so an edit or a delete in the admin would desynchronise the two."""

from functools import cached_property

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connection

from atlas.admin import MerchantOwnedAdmin
from metering.models import Event, MetricState
from metering.services import metric_state_rebuild

COUNT_CAP = 10_000


class CheapCountPaginator(Paginator):
    """Never a full COUNT(*) over millions of events.

    Unfiltered on PostgreSQL, the planner's row estimate (``pg_class.reltuples``)
    stands in for the count; otherwise the count stops at ``COUNT_CAP`` rows
    (``SELECT COUNT(*) FROM (... LIMIT cap)``), so deep pages past the cap are not linked.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [Event._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] > COUNT_CAP:
                return int(row[0])
        return queryset[:COUNT_CAP].count()


@admin.register(Event)
class EventAdmin(MerchantOwnedAdmin):
    list_display = ("transaction_id", "code", "customer", "timestamp", "subscription_external_id", "received_at")
    list_select_related = ("merchant", "customer")
    list_filter = ("merchant",)
    # Exact matches only: they use the unique (merchant, transaction_id) index, never a scan.
    search_fields = ("=transaction_id", "=code", "=customer__external_id")
    ordering = ("-id",)
    paginator = CheapCountPaginator
    show_full_result_count = False
    list_per_page = 100
    raw_id_fields = ("customer",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MetricState)
class MetricStateAdmin(MerchantOwnedAdmin):
    list_display = ("metric", "merchant", "bucket_seconds", "built_at")
    actions = ["rebuild"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # derived from the events: rebuilt (below), never deleted by hand

    @admin.action(description="Rebuild the usage buckets from the raw events")
    def rebuild(self, request, queryset):
        for state in queryset.select_related("metric"):
            metric_state_rebuild(metric=state.metric, force=True)
        self.message_user(request, f"Rebuilt {queryset.count()} metric state(s).", messages.SUCCESS)
