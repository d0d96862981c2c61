"""python manage.py run_billing --as-of DATE: the nightly billing pass, on demand (SPEC §9).

Merchants are billed one after another (each its own ``BillingRun``; nothing a run does crosses merchants), with a
progress line as each one finishes, then a line of totals.
"""

from collections import Counter
from datetime import UTC, date, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from atlas.models import Merchant
from billing.runs.engine import as_of_check, billing_run


def parse_as_of(value: str) -> datetime:
    """A date means the start of that day (UTC); a datetime without a zone is UTC."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of: {value!r} is not an ISO 8601 date or datetime")
    return instant if timezone.is_aware(instant) else instant.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Close due periods, issue and finalize invoices, expire credits and queue PDFs as of an instant."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="ISO date or datetime (default: now)")
        parser.add_argument("--merchant", help="Only this merchant (slug)")

    def handle(self, *args, as_of=None, merchant=None, **options):
        instant = parse_as_of(as_of) if as_of else timezone.now()
        try:
            as_of_check(instant, now=timezone.now())
        except ValueError as exc:
            raise CommandError(f"--as-of: {exc}")
        if merchant:
            merchants = list(Merchant.objects.filter(slug=merchant))
            if not merchants:
                raise CommandError(f"--merchant: no merchant with slug {merchant!r}")
        else:
            merchants = list(Merchant.objects.order_by("pk"))
        totals: Counter = Counter()
        for position, scoped in enumerate(merchants, start=1):
            run = billing_run(as_of=instant, merchant=scoped, trigger="run_billing command")
            totals.update(run.stats)
            self.stdout.write(f"[{position}/{len(merchants)}] {scoped.slug}: {progress(run.stats)}")
        stats = ", ".join(f"{key} {value}" for key, value in sorted(totals.items())) or "nothing to do"
        self.stdout.write(f"Billing run as of {instant.isoformat()}: {stats}")


def progress(stats: dict) -> str:
    line = f"{stats.get('invoices_issued', 0)} invoices issued, {stats.get('invoices_finalized', 0)} finalized"
    if stats.get("errors"):
        line += f", {stats['errors']} errors (see the log; the next run retries them)"
    return line
