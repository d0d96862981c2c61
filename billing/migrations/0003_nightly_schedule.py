"""The nightly django-q2 schedule of the billing run (SPEC §7)."""

from django.db import migrations


def create_schedule(apps, schema_editor):
    from billing.runs.tasks import ensure_nightly_schedule

    ensure_nightly_schedule(apps.get_model("django_q", "Schedule"))


def delete_schedule(apps, schema_editor):
    from billing.runs.tasks import NIGHTLY_SCHEDULE

    apps.get_model("django_q", "Schedule").objects.filter(name=NIGHTLY_SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_invoices_credits"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
