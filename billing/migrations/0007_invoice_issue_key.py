"""Invoices are keyed by (subscription, issued_at); period_start/period_end become the service period billed.

SPEC §11.1: an invoice with in-arrears lines shows the period that just ended (issued Feb 1 for Jan 1 – Feb 1),
one with only in-advance lines the period it bills ahead. Until now ``period_start`` was the issue instant (and
the key). The key moves to ``issued_at`` (always equal to the old ``period_start``), then the periods of existing
invoices are recomputed with the same rule as ``billing.invoices.issuing.service_period``.
"""

from datetime import timedelta

from django.db import migrations, models

from billing.subscriptions.periods import Calendar

CHUNK = 500


def _calendar(subscription) -> Calendar:
    version = subscription.plan_version
    return Calendar(
        start=subscription.started_at, interval=version.interval, interval_count=version.interval_count,
        anchor=subscription.billing_anchor, billing_day=subscription.billing_day, timezone=subscription.timezone,
        end=subscription.ends_at,
    )


def service_periods(apps, schema_editor):
    Invoice = apps.get_model("billing", "Invoice")
    InvoiceLine = apps.get_model("billing", "InvoiceLine")
    arrears = InvoiceLine.objects.filter(
        invoice=models.OuterRef("pk"), service_start__lt=models.OuterRef("issued_at"),
        service_end__lte=models.OuterRef("issued_at"),
    ).order_by("service_start")  # fmt: skip
    invoices = (
        Invoice.objects.select_related("subscription__plan_version")
        .annotate(first_arrears=models.Subquery(arrears.values("service_start")[:1]))
        .filter(first_arrears__isnull=False)  # the others already start at their issue
        .order_by("pk")
    )
    batch = []
    for invoice in invoices.iterator(chunk_size=CHUNK):
        instant = invoice.issued_at
        closing = _calendar(invoice.subscription).period_at(instant - timedelta(microseconds=1))
        period = (closing.start if closing is not None else invoice.first_arrears, instant)
        if period != (invoice.period_start, invoice.period_end):
            invoice.period_start, invoice.period_end = period
            batch.append(invoice)
        if len(batch) >= CHUNK:
            Invoice.objects.bulk_update(batch, ["period_start", "period_end"])
            batch = []
    if batch:
        Invoice.objects.bulk_update(batch, ["period_start", "period_end"])


def issue_instants(apps, schema_editor):
    Invoice = apps.get_model("billing", "Invoice")
    Invoice.objects.update(period_start=models.F("issued_at"))  # the old meaning; period_end is left as computed


class Migration(migrations.Migration):
    dependencies = [
        ("atlas", "0001_initial"),
        ("billing", "0006_invoice_credit_grant"),
        ("customers", "0001_initial"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.UniqueConstraint(fields=("subscription", "issued_at"), name="invoice_subscription_issue"),
        ),
        migrations.RemoveConstraint(model_name="invoice", name="invoice_subscription_period"),
        migrations.AlterModelOptions(name="invoice", options={"ordering": ["-issued_at", "-pk"]}),
        migrations.RemoveIndex(model_name="invoice", name="invoice_customer_period"),
        migrations.AddIndex(
            model_name="invoice",
            index=models.Index(fields=["customer", "issued_at"], name="invoice_customer_issue"),
        ),
        migrations.RunPython(service_periods, issue_instants),
    ]
