"""Create subscriptions from a CSV file (taking over a book, SPEC §11.1), every row checked before anything is written.

The rules (docs/subscriptions.md, "CSV import"):

- The file is read as the customers import reads it (``customers.csv_import.read_rows``): UTF-8 with or without a
  byte-order mark, ``,`` or ``;``, standard quoting, blank lines skipped, the header is row 1, an unknown or repeated
  column is an error, a duplicate ``external_id`` is an error on the later row.
- Columns ``external_id, customer, plan, start_date`` (required) and ``plan_version, billing_anchor, trial_days``.
- Each row is held to ``subscription_create``'s rules: the customer exists (by external id) and is not archived;
  the plan is published and not archived (the newest published version, or the one named); its currency is the
  customer's; no other subscription of the customer to the same plan overlaps it, counting the other rows of the
  file; the start lies in the calendar's years (2000–2999).
- A row whose ``external_id`` exists already is ``unchanged`` when it says what the stored subscription says, and an
  error on the column that differs otherwise: an upload creates subscriptions, ``change_plan`` and ``cancel`` change
  them.
- Any error anywhere: nothing is written and every error is reported by row and column. Otherwise every new
  subscription is inserted in one transaction, with the customers locked (in primary-key order, as
  ``subscription_create`` locks its one customer) and the overlap checked again under the locks.
- No query per row: a handful of chunked reads (customers, plans, existing subscriptions) and a bulk insert.
"""

import csv
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from atlas.api.exceptions import Conflict
from atlas.audit import records as audit_records
from atlas.models import Merchant
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import CALENDAR_RANGE_ERROR, in_calendar_range
from catalog.models import Plan, PlanVersion
from customers import validators
from customers.csv_import import ImportReport, RowError, check_header, read_rows
from customers.models import Customer

CHUNK = 2_000
REQUIRED = ("external_id", "customer", "plan", "start_date")
COLUMNS = (*REQUIRED, "plan_version", "billing_anchor", "trial_days")
SUBSCRIPTION_ONLY = frozenset(COLUMNS) - {"external_id"}
ANCHORS = tuple(Subscription.Anchor.values)
MAX_TRIAL_DAYS = 3650  # as the API's trial_days
MAX_VERSION = 2**31 - 1
UPLOAD_NOT_CHANGE = "subscriptions are changed with change_plan or cancel, not by upload"


class SubscriptionImportReport(ImportReport):
    """The customers import's report; an upload never updates a subscription, so it counts created and unchanged."""

    def counts(self) -> dict:
        return {"created": self.created, "unchanged": self.unchanged}


@dataclass
class _Row:
    number: int
    external_id: str
    customer: str
    plan: str
    start: datetime
    plan_version: int | None = None  # None: the newest published version
    billing_anchor: str = Subscription.Anchor.CALENDAR
    trial_days: int | None = None  # None: the plan version's


@dataclass
class _New:
    """A row that creates a subscription, resolved against the database."""

    row: _Row
    customer_pk: int
    version: dict  # the plan version's pk, plan_id, version, trial_days

    @property
    def trial_ends_at(self) -> datetime | None:
        days = self.version["trial_days"] if self.row.trial_days is None else self.row.trial_days
        return self.row.start + timedelta(days=days) if days else None


def subscriptions_import(*, merchant: Merchant, data: bytes, dry_run: bool = False) -> SubscriptionImportReport:
    """Validate every row of ``data``; unless ``dry_run`` or any error, create the new ones in one transaction."""
    report = SubscriptionImportReport(dry_run=dry_run)
    zone = ZoneInfo(merchant.timezone)
    parsed = read_rows(
        data,
        report,
        check_header=_check_header,
        read_row=lambda header, record, number, report: _read_row(header, record, number, report, zone),
        required=REQUIRED,
        noun="subscription",
    )
    if parsed is None:
        return report
    _, rows = parsed
    report.rows = len(rows)
    new = _check_against_database(merchant, rows, report)
    if report.errors:
        # Checks run in phases (cells, then the database): report in file order.
        report.errors.sort(key=lambda error: -1 if error.row is None else error.row)
        return report
    report.created = len(new)
    report.unchanged = len(rows) - len(new)
    report.changes = [_change(item) for item in new]
    if not dry_run and new:
        _write(merchant, new)
    return report


def is_subscriptions_file(data: bytes) -> bool:
    """Whether the header names a column only a subscriptions file has (``customer``, ``plan``, ``start_date``, …).

    Lenient on purpose: it only picks the importer, which then reads the file strictly and reports what is wrong.
    """
    text = data[:65_536].decode("utf-8-sig", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return False
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    try:
        header = next(csv.reader([lines[0]], delimiter=delimiter), [])
    except csv.Error:
        return False
    return bool({cell.strip().lower() for cell in header} & SUBSCRIPTION_ONLY)


# Reading cells (no database).


def _column_problem(name: str) -> str | None:
    return None if name in COLUMNS else f"unknown column; known columns are {', '.join(COLUMNS)}"


def _check_header(header: list[str], number: int, report: ImportReport) -> bool:
    return check_header(header, number, report, required=REQUIRED, column_problem=_column_problem)


def _read_row(header: list[str], record: list[str], number: int, report: ImportReport, zone: ZoneInfo):
    if len(record) > len(header) and any(cell.strip() for cell in record[len(header) :]):
        report.errors.append(
            RowError(number, "", f"has {len(record)} cells but the header names {len(header)} columns")
        )
        return None
    values: dict = {}
    ok = True
    for name, cell in zip(header, record + [""] * (len(header) - len(record)), strict=False):
        try:
            values[name] = CELLS[name](cell, zone)
        except ValueError as exc:
            report.errors.append(RowError(number, name, str(exc)))
            ok = False
    if not ok:
        return None
    values["start"] = values.pop("start_date")
    return _Row(number=number, **{name: value for name, value in values.items() if value is not None})


def _text(value: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise ValueError("is required")
    if len(value) > limit:
        raise ValueError(f"must be at most {limit} characters")
    return value


def _integer(value: str, low: int, high: int) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise ValueError(f"must be a whole number from {low} to {high}, or blank")
    return int(value)


def start_instant(value: str, zone: ZoneInfo) -> datetime:
    """A date is local midnight in the merchant's time zone (as in ``POST /subscriptions``); a datetime without an
    offset is local time there too."""
    value = value.strip()
    if not value:
        raise ValueError("is required")
    try:
        if len(value) == 10:
            instant = datetime.combine(date.fromisoformat(value), time(), tzinfo=zone)
        else:
            instant = datetime.fromisoformat(value)
            if timezone.is_naive(instant):
                instant = instant.replace(tzinfo=zone)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (2025-08-10) or an ISO 8601 datetime")
    if not in_calendar_range(instant):
        raise ValueError(CALENDAR_RANGE_ERROR)
    return instant


def _anchor(value: str) -> str | None:
    value = value.strip().lower()
    if value and value not in ANCHORS:
        raise ValueError(f"must be one of {', '.join(ANCHORS)}, or blank ({Subscription.Anchor.CALENDAR})")
    return value or None


CELLS = {
    "external_id": lambda cell, zone: validators.external_id(cell),
    "customer": lambda cell, zone: _text(cell, 255),
    "plan": lambda cell, zone: _text(cell, 100),
    "start_date": lambda cell, zone: start_instant(cell, zone),
    "plan_version": lambda cell, zone: _integer(cell, 1, MAX_VERSION),
    "billing_anchor": lambda cell, zone: _anchor(cell),
    "trial_days": lambda cell, zone: _integer(cell, 0, MAX_TRIAL_DAYS),
}


# Checks that need the database: a few chunked reads for the whole file.


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_against_database(merchant: Merchant, rows: list[_Row], report: ImportReport) -> list[_New]:
    """The rows that create a subscription, resolved; errors (and ``unchanged`` rows) are left out."""
    existing = _existing(merchant, [row.external_id for row in rows])
    fresh = []
    for row in rows:
        if row.external_id in existing:
            report.errors.extend(_differences(row, existing[row.external_id]))
        else:
            fresh.append(row)
    customers = _customers(merchant, sorted({row.customer for row in fresh}))
    plans = _plans(merchant, sorted({row.plan for row in fresh}))
    new: list[_New] = []
    for row in fresh:
        customer = customers.get(row.customer)
        errors = []
        if customer is None:
            errors.append(RowError(row.number, "customer", f"no customer with external_id {row.customer!r}"))
        elif customer["archived_at"] is not None:
            errors.append(RowError(row.number, "customer", f"customer {row.customer!r} is archived"))
        version = _resolve(row, plans.get(row.plan), errors)
        if customer is not None and version is not None and version["currency"] != customer["currency"]:
            errors.append(
                RowError(
                    row.number,
                    "plan",
                    f"plan {row.plan!r} is priced in {version['currency']}; "
                    f"customer {row.customer!r} is billed in {customer['currency']}",
                )
            )
        report.errors.extend(errors)
        if not errors:
            new.append(_New(row=row, customer_pk=customer["pk"], version=version))
    for number, message in _overlaps(merchant, new).items():
        report.errors.append(RowError(number, "plan", message))
    return new


def _existing(merchant: Merchant, external_ids: list[str]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    fields = (
        "external_id",
        "customer__external_id",
        "plan_version__plan__code",
        "plan_version__version",
        "plan_version__trial_days",
        "started_at",
        "trial_ends_at",
        "billing_anchor",
    )
    for chunk in _chunks(external_ids):
        for values in Subscription.objects.filter(merchant=merchant, external_id__in=chunk).values(*fields):
            found[values["external_id"]] = values
    return found


def _differences(row: _Row, stored: dict) -> list[RowError]:
    """Errors for each column where the row says something else than the stored subscription it names."""
    days = stored["plan_version__trial_days"] if row.trial_days is None else row.trial_days
    trial_ends_at = row.start + timedelta(days=days) if days else None
    stored_trial = stored["trial_ends_at"]
    compared = [
        (
            "customer",
            row.customer,
            stored["customer__external_id"],
            f"for customer {stored['customer__external_id']!r}",
        ),
        ("plan", row.plan, stored["plan_version__plan__code"], f"on plan {stored['plan_version__plan__code']!r}"),
        ("start_date", row.start, stored["started_at"], f"starting {_iso(stored['started_at'])}"),
        ("billing_anchor", row.billing_anchor, stored["billing_anchor"], f"with {stored['billing_anchor']} periods"),
        (
            "trial_days",
            trial_ends_at,
            stored_trial,
            f"with a trial ending {_iso(stored_trial)}" if stored_trial else "without a trial",
        ),
    ]
    if row.plan_version is not None:
        version = stored["plan_version__version"]
        compared.insert(2, ("plan_version", row.plan_version, version, f"on version {version} of its plan"))
    return [
        RowError(row.number, column, f"subscription {row.external_id!r} exists {as_stored}; {UPLOAD_NOT_CHANGE}")
        for column, wanted, current, as_stored in compared
        if wanted != current
    ]


def _customers(merchant: Merchant, external_ids: list[str]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for chunk in _chunks(external_ids):
        for values in Customer.objects.filter(merchant=merchant, external_id__in=chunk).values(
            "pk", "external_id", "currency", "archived_at"
        ):
            found[values["external_id"]] = values
    return found


def _plans(merchant: Merchant, codes: list[str]) -> dict[str, dict]:
    """``{code: {"archived_at", "versions": {number: version values}}}`` of the plans the file names."""
    found: dict[str, dict] = {}
    by_pk: dict[int, dict] = {}
    for chunk in _chunks(codes):
        for pk, code, archived_at in Plan.objects.filter(merchant=merchant, code__in=chunk).values_list(
            "pk", "code", "archived_at"
        ):
            found[code] = by_pk[pk] = {"archived_at": archived_at, "versions": {}}
    for chunk in _chunks(sorted(by_pk)):
        for values in PlanVersion.objects.filter(plan_id__in=chunk).values(
            "pk", "plan_id", "version", "status", "currency", "trial_days"
        ):
            by_pk[values["plan_id"]]["versions"][values["version"]] = values
    return found


def _resolve(row: _Row, plan: dict | None, errors: list[RowError]) -> dict | None:
    """The plan version the row starts on, by ``plan_version_for_subscription``'s rules; None after an error."""
    code = row.plan
    if plan is None:
        errors.append(RowError(row.number, "plan", f"no plan with code {code!r}"))
        return None
    if plan["archived_at"] is not None:
        errors.append(RowError(row.number, "plan", f"plan {code!r} is archived and accepts no new subscriptions"))
        return None
    versions = plan["versions"]
    if row.plan_version is None:
        published = [v for n, v in sorted(versions.items()) if v["status"] == PlanVersion.Status.PUBLISHED]
        if not published:
            errors.append(
                RowError(row.number, "plan", f"plan {code!r} has no published version yet (publish its draft)")
            )
            return None
        return published[-1]
    version = versions.get(row.plan_version)
    if version is None:
        errors.append(RowError(row.number, "plan_version", f"plan {code!r} has no version {row.plan_version}"))
        return None
    if version["status"] != PlanVersion.Status.PUBLISHED:
        errors.append(
            RowError(
                row.number, "plan_version", f"version {row.plan_version} of plan {code!r} is a draft; publish it first"
            )
        )
        return None
    return version


def _overlaps(merchant: Merchant, new: list[_New]) -> dict[int, str]:
    """``{row number: reason}`` for new rows that would overlap another subscription of the customer to the plan.

    A new subscription is open-ended, so it overlaps every stored one to the same plan that has not ended by its
    start, and any other row of the file for the same customer and plan (reported on the later row).
    """
    pairs = {(item.customer_pk, item.version["plan_id"]) for item in new}
    stored: dict[tuple[int, int], list[dict]] = {}
    for chunk in _chunks(sorted({customer_pk for customer_pk, _ in pairs})):
        for values in (
            Subscription.objects.filter(merchant=merchant, customer_id__in=chunk)
            .values("external_id", "customer_id", "plan_version__plan_id", "started_at", "ends_at")
            .order_by("started_at", "pk")
        ):
            key = (values["customer_id"], values["plan_version__plan_id"])
            if key in pairs:
                stored.setdefault(key, []).append(values)
    clashes: dict[int, str] = {}
    first_in_file: dict[tuple[int, int], _New] = {}
    for item in sorted(new, key=lambda item: item.row.number):
        key = (item.customer_pk, item.version["plan_id"])
        what = f"customer {item.row.customer!r} already has subscription"
        clash = next((s for s in stored.get(key, ()) if s["ends_at"] is None or s["ends_at"] > item.row.start), None)
        if clash is not None:
            clashes[item.row.number] = f"{what} {clash['external_id']!r} to plan {item.row.plan!r} in that time"
        elif key in first_in_file:
            earlier = first_in_file[key].row
            clashes[item.row.number] = (
                f"{what} {earlier.external_id!r} (row {earlier.number}) to plan {item.row.plan!r} in that time"
            )
        first_in_file.setdefault(key, item)
    return clashes


# Writing.


def _change(item: _New) -> dict:
    trial_ends_at = item.trial_ends_at
    return {
        "row": item.row.number,
        "external_id": item.row.external_id,
        "action": "create",
        "customer": item.row.customer,
        "plan": item.row.plan,
        "plan_version": item.version["version"],
        "started_at": _iso(item.row.start),
        "billing_anchor": item.row.billing_anchor,
        "trial_ends_at": _iso(trial_ends_at) if trial_ends_at else None,
    }


def _iso(instant: datetime) -> str:
    return instant.astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")


def _write(merchant: Merchant, new: list[_New]) -> None:
    now = timezone.now()
    try:
        with transaction.atomic():
            # Lock the customers as subscription_create does, in one order, then check again what the locks guard.
            for chunk in _chunks(sorted({item.customer_pk for item in new})):
                list(Customer.objects.select_for_update().filter(pk__in=chunk).order_by("pk").values_list("pk"))
            if _existing(merchant, [item.row.external_id for item in new]) or _overlaps(merchant, new):
                raise IntegrityError("changed since the check")
            created = Subscription.objects.bulk_create(
                [
                    Subscription(
                        merchant=merchant,
                        customer_id=item.customer_pk,
                        external_id=item.row.external_id,
                        plan_version_id=item.version["pk"],
                        started_at=item.row.start,
                        trial_ends_at=item.trial_ends_at,
                        billing_anchor=item.row.billing_anchor,
                        billing_day=merchant.billing_day,
                        timezone=merchant.timezone,
                        overrides={},
                        created_at=now,
                    )
                    for item in new
                ],
                batch_size=CHUNK,
            )
            audit_records.record_created(created)  # bulk_create sends no signal: one audit entry per subscription
    except IntegrityError:
        raise Conflict("Another import or request changed these subscriptions at the same time; upload the file again.")
