"""Metering records for the tenant-isolation walk: events of the customers app's customer."""

from django.utils import timezone

from metering.services import events_ingest


def populate(merchant, ctx: dict) -> None:
    customer = ctx["customer"]
    now = timezone.now()
    result = events_ingest(
        merchant=merchant,
        payloads=[
            {"transaction_id": "walk-1", "customer": customer.external_id, "code": "api_call",
             "timestamp": now.isoformat(), "properties": {"region": "eu"}},
            {"transaction_id": "walk-2", "customer": customer.external_id, "code": "api_call",
             "properties": {"region": "us"}, "subscription": getattr(ctx.get("subscription"), "external_id", "")},
        ],
    )  # fmt: skip
    assert result.accepted == 2, result
    ctx["events"] = result
