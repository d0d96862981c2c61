"""Amounts paid before payments were records of their own become one payment each (source ``migration``), so that
an invoice's ``amount_paid`` is always the sum of its payments."""

from django.db import migrations


def forwards(apps, schema_editor):
    Invoice = apps.get_model("billing", "Invoice")
    Payment = apps.get_model("billing", "Payment")
    paid = Invoice.objects.filter(amount_paid__gt=0, payments__isnull=True).order_by("pk")
    Payment.objects.bulk_create(
        Payment(
            merchant_id=invoice.merchant_id, customer_id=invoice.customer_id, invoice_id=invoice.pk,
            amount=invoice.amount_paid, currency=invoice.currency, amount_applied=invoice.amount_paid,
            method="other", source="migration", paid_at=invoice.paid_at or invoice.finalized_at or invoice.issued_at,
            actor_label="migration (amount paid before payments were recorded)",
        )
        for invoice in paid.iterator(chunk_size=2000)
    )


def backwards(apps, schema_editor):
    apps.get_model("billing", "Payment").objects.filter(source="migration").delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0009_payments")]

    operations = [migrations.RunPython(forwards, backwards)]
