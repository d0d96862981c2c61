"""Catalog API shapes. Input serializers check types and look records up; output serializers shape JSON.

Rules that need the currency or a metric's definition (charge parameters, decimals of
amounts) are the services' (``catalog.services.plan_content_validate``).
"""

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from atlas.money import is_currency, parse_decimal, to_str
from catalog.models import Feature, Metric, Plan, PlanFeature, PlanVersion, code_validator
from catalog.rating import MODELS

MAX_AMOUNT_DIGITS = 15  # money_field: 15 integer digits
MAX_QUANTITY_PLACES = 10  # quantity_field: 10 decimals
MAX_QUANTITY_DIGITS = 20


# --- fields -----------------------------------------------------------------------------------------------------


def plain(number: Decimal | None) -> str | None:
    """A quantity without trailing zeros and never in exponent form (1000.0000000000 -> "1000")."""
    if number is None:
        return None
    return format(number.normalize(), "f")


@extend_schema_field({"type": "string", "format": "decimal", "example": "12.50"})
class AmountField(serializers.Field):
    """Money in: a decimal string (or an int). Floats are refused: they cannot carry an exact amount."""

    def to_internal_value(self, data) -> Decimal:
        try:
            value = parse_decimal(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))
        if value < 0:
            raise serializers.ValidationError("must not be negative")
        if value.adjusted() >= MAX_AMOUNT_DIGITS:
            raise serializers.ValidationError(f"is too large (at most {MAX_AMOUNT_DIGITS} digits before the point)")
        return value

    def to_representation(self, value):
        return str(value)


class QuantityField(AmountField):
    """A number of units (``included_units``): a decimal string, at most 10 decimal places."""

    def to_internal_value(self, data) -> Decimal:
        try:
            value = parse_decimal(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))
        if value < 0:
            raise serializers.ValidationError("must not be negative")
        if value.adjusted() >= MAX_QUANTITY_DIGITS:
            raise serializers.ValidationError(f"is too large (at most {MAX_QUANTITY_DIGITS} digits before the point)")
        if value != value.quantize(Decimal(1).scaleb(-MAX_QUANTITY_PLACES)):
            raise serializers.ValidationError(f"has more than {MAX_QUANTITY_PLACES} decimal places")
        return value


class StrictCharField(serializers.CharField):
    """A string, and only a string (DRF's CharField would turn 5 into "5")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("must be a string")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An integer, and only an integer: not "5", not 5.0, not true."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("must be an integer")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            raise serializers.ValidationError("must be true or false")
        return data


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class StringListField(serializers.Field):
    """A list of distinct non-empty strings (event codes, group_by properties)."""

    def __init__(self, *, allow_empty: bool = True, **kwargs):
        self.allow_empty = allow_empty
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> list[str]:
        if not isinstance(data, list):
            raise serializers.ValidationError("must be a list of strings")
        if not data and not self.allow_empty:
            raise serializers.ValidationError("must list at least one value")
        for index, item in enumerate(data):
            if not isinstance(item, str) or not item.strip():
                raise serializers.ValidationError(f"item {index} must be a non-empty string")
            if len(item) > 100:
                raise serializers.ValidationError(f"item {index} is longer than 100 characters")
            if item in data[:index]:
                raise serializers.ValidationError(f"repeats {item!r}")
        return data

    def to_representation(self, value):
        return list(value)


@extend_schema_field({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}})
class FiltersField(serializers.Field):
    """``{"property": ["allowed", "values"]}``: an event passes when each property's value is in its list."""

    def to_internal_value(self, data) -> dict[str, list[str]]:
        if not isinstance(data, dict):
            raise serializers.ValidationError('must be an object such as {"region": ["eu", "us"]}')
        for prop, values in data.items():
            if not prop.strip():
                raise serializers.ValidationError("property names must not be empty")
            if not isinstance(values, list) or not values:
                raise serializers.ValidationError(f"{prop!r} must map to a non-empty list of allowed values")
            if not all(isinstance(value, str) for value in values):
                raise serializers.ValidationError(f"the allowed values of {prop!r} must be strings")
        return data

    def to_representation(self, value):
        return dict(value)


@extend_schema_field(OpenApiTypes.STR)
class MerchantSlugRelatedField(serializers.SlugRelatedField):
    """A record of the caller's merchant named by its code or key; another merchant's is unknown."""

    def __init__(self, *, noun: str, **kwargs):
        kwargs.setdefault("error_messages", {"does_not_exist": f"no {noun} with {kwargs['slug_field']} {{value!r}}"})
        super().__init__(**kwargs)

    def get_queryset(self):
        return super().get_queryset().filter(merchant=self.context["merchant"])

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("must be a string")
        return super().to_internal_value(data)

    def to_representation(self, obj):
        return getattr(obj, self.slug_field)


class _UniqueCode:
    """``code``/``key`` of a new record: valid characters and not yet used by the merchant."""

    def __init__(self, model, field: str, noun: str):
        self.model, self.field, self.noun = model, field, noun

    def __call__(self, value, serializer_field):
        serializer = serializer_field.parent
        instance = getattr(serializer, "instance", None)
        if instance is not None:
            if value != getattr(instance, self.field):
                raise serializers.ValidationError("cannot be changed")
            return
        merchant = serializer.context["merchant"]
        if self.model.objects.filter(merchant=merchant, **{self.field: value}).exists():
            raise serializers.ValidationError(f"a {self.noun} with {self.field} {value!r} already exists")

    requires_context = True


# --- metrics ----------------------------------------------------------------------------------------------------


class MetricSerializer(serializers.Serializer):
    code = StrictCharField(max_length=100, validators=[code_validator, _UniqueCode(Metric, "code", "metric")])
    name = StrictCharField(max_length=200)
    description = StrictCharField(allow_blank=True, required=False)
    event_codes = StringListField(allow_empty=False)
    aggregation = serializers.ChoiceField(Metric.Aggregation.choices, required=False)
    field = StrictCharField(max_length=100, allow_blank=True, required=False)
    filters = FiltersField(required=False)
    group_by = StringListField(required=False)
    period = serializers.ChoiceField(Metric.Period.choices, required=False)
    window_seconds = StrictIntegerField(min_value=1, allow_null=True, required=False)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def validate(self, attrs):
        """Check the metric as it will be (the instance with the changes), so a PATCH cannot break it."""
        if self.instance is None:
            current = {"aggregation": Metric.Aggregation.COUNT, "field": "", "period": Metric.Period.BILLING_PERIOD}
        else:
            names = ("aggregation", "field", "period", "window_seconds")
            current = {name: getattr(self.instance, name) for name in names}
        state = {**current, **attrs}
        errors = {}
        if state["aggregation"] == Metric.Aggregation.COUNT:
            if state.get("field"):
                errors["field"] = "count does not aggregate a property: leave field empty"
        elif not state.get("field"):
            errors["field"] = f"is required for {state['aggregation']} (the event property to aggregate)"
        if state["period"] == Metric.Period.ROLLING:
            if not state.get("window_seconds"):
                errors["window_seconds"] = "is required for a rolling period"
        elif state.get("window_seconds") is not None:
            errors["window_seconds"] = "applies only to a rolling period"
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


# --- features ---------------------------------------------------------------------------------------------------


class FeatureSerializer(serializers.Serializer):
    key = StrictCharField(max_length=100, validators=[code_validator, _UniqueCode(Feature, "key", "feature")])
    name = StrictCharField(max_length=200)
    description = StrictCharField(allow_blank=True, required=False)
    kind = serializers.ChoiceField(Feature.Kind.choices)
    metric = MerchantSlugRelatedField(
        noun="metric", slug_field="code", queryset=Metric.objects.all(), allow_null=True, required=False
    )
    default_limit = StrictIntegerField(min_value=-1, allow_null=True, required=False)
    default_enabled = StrictBooleanField(required=False)
    default_value = StrictCharField(max_length=500, allow_blank=True, required=False)
    scope = serializers.ChoiceField(
        Feature.Scope.choices, required=False,
        help_text="customer (default): the customer's usage; user: each team member's own (ask with ?user=)",
    )
    counts = serializers.ChoiceField(
        Feature.Counts.choices, required=False,
        help_text="metric (default): the metric's usage; users: active provisioned users (a seat limit, no metric)",
    )
    created_at = serializers.DateTimeField(read_only=True)

    def validate_kind(self, value):
        if self.instance is not None and value != self.instance.kind:
            raise serializers.ValidationError("cannot be changed: create a new feature")
        return value

    def validate(self, attrs):
        instance = self.instance
        state = {
            name: attrs[name] if name in attrs else getattr(instance, name, None)
            for name in ("kind", "metric", "default_limit", "default_enabled", "default_value", "scope", "counts")
        }
        kind, errors = state["kind"], {}
        scope = state["scope"] or Feature.Scope.CUSTOMER
        counts = state["counts"] or Feature.Counts.METRIC
        if kind == Feature.Kind.LIMIT and counts == Feature.Counts.USERS:
            if state["metric"] is not None:
                errors["metric"] = "a seat limit (counts: users) counts active users, not a metric: leave it empty"
            if scope != Feature.Scope.CUSTOMER:
                errors["scope"] = "a seat limit (counts: users) is per customer"
        elif kind == Feature.Kind.LIMIT:
            if state["metric"] is None:
                errors["metric"] = "is required for a limit feature (the metric whose usage is limited)"
        else:
            if counts != Feature.Counts.METRIC:
                errors["counts"] = "only limit features count something"
            if scope != Feature.Scope.CUSTOMER:
                errors["scope"] = "only limit features have a scope"
            if state["metric"] is not None:
                errors["metric"] = "only limit features have a metric"
            if state["default_limit"] is not None:
                errors["default_limit"] = "only limit features have a limit"
        if kind != Feature.Kind.BOOLEAN and state["default_enabled"]:
            errors["default_enabled"] = "only boolean features are enabled or not"
        if kind != Feature.Kind.VALUE and state["default_value"]:
            errors["default_value"] = "only value features have a value"
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


# --- plans: input -----------------------------------------------------------------------------------------------


class ChargeInputSerializer(serializers.Serializer):
    """A charge: these fields, and the pricing model's parameters directly alongside them (SPEC §8)."""

    metric = MerchantSlugRelatedField(noun="metric", slug_field="code", queryset=Metric.objects.all())
    model = serializers.ChoiceField(MODELS)
    included_units = QuantityField(required=False, default=Decimal("0"))
    minimum_amount = AmountField(required=False, allow_null=True, default=None)
    maximum_amount = AmountField(required=False, allow_null=True, default=None)
    timing = serializers.ChoiceField(PlanVersion.Timing.choices, required=False, default=PlanVersion.Timing.IN_ARREARS)
    description = StrictCharField(max_length=200, allow_blank=True, required=False, default="")

    def to_internal_value(self, data):
        attrs = super().to_internal_value(data)
        attrs["params"] = {key: value for key, value in data.items() if key not in self.fields}
        return attrs


class PlanFeatureInputSerializer(serializers.Serializer):
    """``{"feature": key}`` with ``limit`` (limit features), ``enabled`` (boolean) or ``value`` (value)."""

    feature = MerchantSlugRelatedField(noun="feature", slug_field="key", queryset=Feature.objects.all())
    limit = StrictIntegerField(min_value=-1, required=False)
    enabled = StrictBooleanField(required=False)
    value = StrictCharField(max_length=500, allow_blank=True, required=False)
    enforcement = serializers.ChoiceField(PlanFeature.Enforcement.choices, required=False)

    EXPECTED = {Feature.Kind.LIMIT: "limit", Feature.Kind.BOOLEAN: "enabled", Feature.Kind.VALUE: "value"}

    def validate(self, attrs):
        feature: Feature = attrs["feature"]
        expected = self.EXPECTED[feature.kind]
        errors = {}
        if expected not in attrs:
            errors[expected] = f"is required: {feature.key!r} is a {feature.kind} feature"
        for name in set(self.EXPECTED.values()) - {expected}:
            if name in attrs:
                errors[name] = f"does not apply: {feature.key!r} is a {feature.kind} feature (give {expected})"
        if "enforcement" in attrs and feature.kind != Feature.Kind.LIMIT:
            errors["enforcement"] = f"applies only to limit features; {feature.key!r} is a {feature.kind} feature"
        if errors:
            raise serializers.ValidationError(errors)
        if feature.kind == Feature.Kind.LIMIT:
            attrs.setdefault("enforcement", PlanFeature.Enforcement.HARD)
        return attrs


class OneTimeFeeInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    amount = AmountField()


class PlanInputSerializer(serializers.Serializer):
    """A plan as posted (SPEC §8). With ``for_update`` every field is optional and ``code`` cannot change."""

    code = StrictCharField(max_length=100, validators=[code_validator, _UniqueCode(Plan, "code", "plan")])
    name = StrictCharField(max_length=200)
    description = StrictCharField(allow_blank=True, required=False)
    currency = StrictCharField(max_length=3)
    interval = serializers.ChoiceField(PlanVersion.Interval.choices, required=False)
    interval_count = StrictIntegerField(min_value=1, max_value=120, required=False)
    base_fee = AmountField(required=False)
    base_fee_timing = serializers.ChoiceField(PlanVersion.Timing.choices, required=False)
    trial_days = StrictIntegerField(min_value=0, max_value=3650, required=False)
    charges = ChargeInputSerializer(many=True, required=False)
    features = PlanFeatureInputSerializer(many=True, required=False)
    one_time_fees = OneTimeFeeInputSerializer(many=True, required=False)

    PLAN_FIELDS = ("code", "name", "description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance is not None:
            for name in ("code", "name", "currency"):
                self.fields[name].required = False

    def validate_currency(self, value: str) -> str:
        if not is_currency(value):
            raise serializers.ValidationError(f"{value!r} is not an ISO 4217 currency code (such as USD, EUR, JPY)")
        return value

    def validate_features(self, lines):
        seen: dict[int, int] = {}
        errors: list[dict] = []
        for index, line in enumerate(lines):
            first = seen.setdefault(line["feature"].pk, index)
            errors.append({"feature": f"repeats the feature of features[{first}]"} if first != index else {})
        if any(errors):
            raise serializers.ValidationError(errors)
        return lines

    def split(self) -> tuple[dict, dict]:
        """The validated data as (plan fields, version content)."""
        data = dict(self.validated_data)
        plan = {name: data.pop(name) for name in self.PLAN_FIELDS if name in data}
        return plan, data


# --- plans: output ----------------------------------------------------------------------------------------------


def charge_representation(charge, currency: str) -> dict:
    return {
        "metric": charge.metric.code,
        "model": charge.model,
        **charge.properties,
        "included_units": plain(charge.included_units),
        "minimum_amount": to_str(charge.minimum_amount, currency),
        "maximum_amount": to_str(charge.maximum_amount, currency),
        "timing": charge.timing,
        "description": charge.description,
    }


def plan_feature_representation(line: PlanFeature) -> dict:
    kind = line.feature.kind
    if kind == Feature.Kind.LIMIT:
        return {"feature": line.feature.key, "limit": line.limit, "enforcement": line.enforcement}
    if kind == Feature.Kind.BOOLEAN:
        return {"feature": line.feature.key, "enabled": bool(line.enabled)}
    return {"feature": line.feature.key, "value": line.value}


class PlanVersionSummarySerializer(serializers.Serializer):
    version = serializers.IntegerField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    published_at = serializers.DateTimeField(allow_null=True)


class PlanSerializer(serializers.Serializer):
    """A plan as returned: one version's content (the latest unless asked) and a summary of every version.

    Instantiate with the plan version; its plan's versions should be prefetched.
    """

    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    currency = serializers.CharField()
    interval = serializers.CharField()
    interval_count = serializers.IntegerField()
    base_fee = serializers.CharField()
    base_fee_timing = serializers.CharField()
    trial_days = serializers.IntegerField()
    charges = serializers.ListField(child=serializers.DictField())
    features = serializers.ListField(child=serializers.DictField())
    one_time_fees = serializers.ListField(child=serializers.DictField())
    version = serializers.IntegerField()
    status = serializers.CharField()
    published_at = serializers.DateTimeField(allow_null=True)
    archived_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    versions = PlanVersionSummarySerializer(many=True)

    def to_representation(self, version: PlanVersion) -> dict:
        plan, currency = version.plan, version.currency
        dt = serializers.DateTimeField()
        return {
            "code": plan.code,
            "name": plan.name,
            "description": plan.description,
            "currency": currency,
            "interval": version.interval,
            "interval_count": version.interval_count,
            "base_fee": to_str(version.base_fee, currency),
            "base_fee_timing": version.base_fee_timing,
            "trial_days": version.trial_days,
            "charges": [charge_representation(charge, currency) for charge in version.charges.all()],
            "features": [plan_feature_representation(line) for line in version.plan_features.all()],
            "one_time_fees": [
                {"name": fee.name, "amount": to_str(fee.amount, currency)} for fee in version.one_time_fees.all()
            ],
            "version": version.version,
            "status": version.status,
            "published_at": dt.to_representation(version.published_at) if version.published_at else None,
            "archived_at": dt.to_representation(plan.archived_at) if plan.archived_at else None,
            "created_at": dt.to_representation(plan.created_at),
            "versions": PlanVersionSummarySerializer(
                sorted(plan.versions.all(), key=lambda candidate: candidate.version), many=True
            ).data,
        }
