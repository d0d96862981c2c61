"""The nightly schedule's task moved with the jobs engine to ``billing.runs.tasks``."""

from django.db import migrations

OLD = "billing.tasks.billing_run_nightly"
NEW = "billing.runs.tasks.billing_run_nightly"


def forward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=OLD).update(func=NEW)


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=NEW).update(func=OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_credit_notes"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(forward, backward)]
