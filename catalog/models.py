"""What a merchant sells: metrics, features, and versioned plans with charges."""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from atlas.fields import money_field, quantity_field
from atlas.models import Merchant
from catalog.rating import PricedCharge

code_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", "Use letters, digits, '_', '-', '.' and ':', starting with a letter or digit."
)


class Metric(models.Model):
    """A rule that turns events into one quantity per period (SPEC §4)."""

    class Aggregation(models.TextChoices):
        COUNT = "count"
        SUM = "sum"
        MAX = "max"
        MIN = "min"
        LATEST = "latest"
        UNIQUE_COUNT = "unique_count"
        WEIGHTED_SUM = "weighted_sum"

    class Period(models.TextChoices):
        BILLING_PERIOD = "billing_period"
        ALL_TIME = "all_time"
        ROLLING = "rolling"
        DAY = "day"  # the calendar day in the merchant's time zone (daily caps reset at local midnight)

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="metrics")
    code = models.CharField(max_length=100, validators=[code_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    event_codes = models.JSONField(default=list, help_text="Event codes (metering IDs) that feed this metric.")
    aggregation = models.CharField(max_length=20, choices=Aggregation.choices, default=Aggregation.COUNT)
    field = models.CharField(max_length=100, blank=True, help_text="Event property aggregated (all but count).")
    filters = models.JSONField(default=dict, blank=True, help_text='{"prop": ["allowed", "values"]}')
    group_by = models.JSONField(default=list, blank=True)
    period = models.CharField(max_length=20, choices=Period.choices, default=Period.BILLING_PERIOD)
    window_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Rolling window length.")
    # Kept by the catalog, not by the merchant: set while a user-scoped feature counts this metric, so its
    # usage buckets also key on the events' ``user`` property (metering.state; docs/metering.md).
    user_buckets = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="metric_code_unique_per_merchant"),
            models.CheckConstraint(
                condition=~Q(period="rolling") | Q(window_seconds__gt=0), name="metric_rolling_needs_window"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Feature(models.Model):
    """An entitlement: a boolean capability, a usage limit, or a static value."""

    class Kind(models.TextChoices):
        BOOLEAN = "boolean"
        LIMIT = "limit"
        VALUE = "value"

    class Scope(models.TextChoices):
        CUSTOMER = "customer"  # the customer's events, all users together
        USER = "user"  # each team member's own events (their ``user`` property): ask with ?user=

    class Counts(models.TextChoices):
        METRIC = "metric"  # the metric's usage
        USERS = "users"  # the customer's active provisioned users (a seat limit; no metric)

    UNLIMITED = -1
    NO_ACCESS = 0

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="features")
    key = models.CharField(max_length=100, validators=[code_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    metric = models.ForeignKey(Metric, null=True, blank=True, on_delete=models.PROTECT, related_name="features")
    default_limit = models.BigIntegerField(null=True, blank=True, help_text="-1 unlimited, 0 no access.")
    default_enabled = models.BooleanField(default=False)
    default_value = models.CharField(max_length=500, blank=True)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.CUSTOMER)
    counts = models.CharField(max_length=10, choices=Counts.choices, default=Counts.METRIC)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="feature_key_unique_per_merchant"),
            # A limit counts a metric's usage, or (a seat limit) the active users, never both.
            models.CheckConstraint(
                condition=~Q(kind="limit") | Q(counts="metric", metric__isnull=False) | Q(counts="users", metric=None),
                name="feature_limit_counts_metric_or_users",
            ),
            models.CheckConstraint(condition=Q(kind="limit") | Q(counts="metric"), name="feature_counts_only_limits"),
            # Only a limit on a metric's usage can count each team member's own usage.
            models.CheckConstraint(
                condition=Q(scope="customer") | Q(kind="limit", counts="metric"), name="feature_user_scope_on_metric"
            ),
            models.CheckConstraint(
                condition=Q(default_limit__isnull=True) | Q(default_limit__gte=-1), name="feature_limit_gte_minus_one"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class Plan(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="plans")
    code = models.CharField(max_length=100, validators=[code_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["merchant", "code"], name="plan_code_unique_per_merchant")]

    def __str__(self) -> str:
        return self.code


class PlanVersion(models.Model):
    """A version of a plan. Published versions never change (SPEC §2)."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        PUBLISHED = "published"

    class Interval(models.TextChoices):
        WEEK = "week"
        MONTH = "month"
        QUARTER = "quarter"
        YEAR = "year"

    class Timing(models.TextChoices):
        IN_ADVANCE = "in_advance"
        IN_ARREARS = "in_arrears"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="plan_versions")
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    currency = models.CharField(max_length=3)
    interval = models.CharField(max_length=10, choices=Interval.choices, default=Interval.MONTH)
    interval_count = models.PositiveSmallIntegerField(default=1)
    base_fee = money_field(default=0)
    base_fee_timing = models.CharField(max_length=12, choices=Timing.choices, default=Timing.IN_ADVANCE)
    trial_days = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["plan", "version"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "version"], name="plan_version_unique"),
            models.UniqueConstraint(fields=["plan"], condition=Q(status="draft"), name="plan_one_draft"),
            models.CheckConstraint(condition=Q(base_fee__gte=0), name="plan_version_base_fee_non_negative"),
            models.CheckConstraint(condition=Q(interval_count__gte=1), name="plan_version_interval_count_positive"),
            models.CheckConstraint(
                condition=Q(status="draft", published_at__isnull=True)
                | Q(status="published", published_at__isnull=False),
                name="plan_version_published_at_iff_published",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan.code} v{self.version}"

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED


class Charge(models.Model):
    """A price on a metric inside a plan version (SPEC §3)."""

    class Model(models.TextChoices):
        PER_UNIT = "per_unit"
        FLAT = "flat"
        TIERED = "tiered"
        VOLUME = "volume"
        PACKAGE = "package"
        STAIRSTEP = "stairstep"
        MATRIX = "matrix"
        PERCENTAGE = "percentage"

    plan_version = models.ForeignKey(PlanVersion, on_delete=models.CASCADE, related_name="charges")
    position = models.PositiveSmallIntegerField(default=0)
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="charges")
    model = models.CharField(max_length=12, choices=Model.choices)
    properties = models.JSONField(default=dict, help_text="The model's parameters (amounts as strings).")
    included_units = quantity_field(default=0)
    minimum_amount = money_field(null=True, blank=True)
    maximum_amount = money_field(null=True, blank=True)
    timing = models.CharField(max_length=12, choices=PlanVersion.Timing.choices, default=PlanVersion.Timing.IN_ARREARS)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["plan_version", "position", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(included_units__gte=0), name="charge_included_units_non_negative"),
            models.CheckConstraint(
                condition=Q(minimum_amount__isnull=True) | Q(minimum_amount__gte=0), name="charge_minimum_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(maximum_amount__isnull=True) | Q(maximum_amount__gte=0), name="charge_maximum_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(minimum_amount__isnull=True)
                | Q(maximum_amount__isnull=True)
                | Q(minimum_amount__lte=models.F("maximum_amount")),
                name="charge_minimum_not_above_maximum",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric.code} {self.model}"

    def priced(self, currency: str | None = None) -> PricedCharge:
        """The rating engine's compiled form of this charge (compile once, rate many periods)."""
        return PricedCharge(
            model=self.model,
            params=self.properties,
            currency=currency or self.plan_version.currency,
            included_units=self.included_units,
            minimum_amount=self.minimum_amount,
            maximum_amount=self.maximum_amount,
        )


class PlanFeature(models.Model):
    """A feature's value in a plan version: a limit, an on/off, or a static value."""

    class Enforcement(models.TextChoices):
        HARD = "hard"
        SOFT = "soft"

    plan_version = models.ForeignKey(PlanVersion, on_delete=models.CASCADE, related_name="plan_features")
    feature = models.ForeignKey(Feature, on_delete=models.PROTECT, related_name="plan_features")
    limit = models.BigIntegerField(null=True, blank=True)
    enabled = models.BooleanField(null=True, blank=True)
    value = models.CharField(max_length=500, blank=True)
    enforcement = models.CharField(max_length=4, choices=Enforcement.choices, default=Enforcement.HARD)

    class Meta:
        ordering = ["plan_version", "feature__key"]
        constraints = [
            models.UniqueConstraint(fields=["plan_version", "feature"], name="plan_feature_unique"),
            models.CheckConstraint(
                condition=Q(limit__isnull=True) | Q(limit__gte=-1), name="plan_feature_limit_gte_m1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.feature.key} in {self.plan_version}"


class OneTimeFee(models.Model):
    """Billed once, on a subscription's first invoice."""

    plan_version = models.ForeignKey(PlanVersion, on_delete=models.CASCADE, related_name="one_time_fees")
    name = models.CharField(max_length=200)
    amount = money_field()

    class Meta:
        ordering = ["plan_version", "pk"]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="one_time_fee_non_negative")]

    def __str__(self) -> str:
        return self.name
