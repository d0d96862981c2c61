"""Customer and billing-rule shapes on the wire. Input serializers validate; output serializers shape."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers import validators
from customers.models import BillingRule, Customer


@extend_schema_field(OpenApiTypes.STR)
class RuleField(serializers.Field):
    """A field checked by one of ``customers.validators`` (the CSV import uses the same functions)."""

    def __init__(self, rule, **kwargs):
        self.rule = rule
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return self.rule(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))

    def to_representation(self, value):
        return value


@extend_schema_field(OpenApiTypes.BOOL)
class BooleanRuleField(RuleField):
    pass


@extend_schema_field(OpenApiTypes.DATE)
class DateRuleField(RuleField):
    pass


@extend_schema_field(OpenApiTypes.DECIMAL)
class DecimalRuleField(RuleField):
    pass


@extend_schema_field(OpenApiTypes.INT)
class IntegerRuleField(RuleField):
    pass


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": validators.METADATA_MAX_VALUE_LENGTH},
        "maxProperties": validators.METADATA_MAX_KEYS,
    }
)
class MetadataField(serializers.Field):
    """``{"key": "text"}``: at most 50 keys of 1-40 characters, values up to 500; errors name ``metadata.<key>``."""

    def to_internal_value(self, data):
        try:
            return validators.metadata(data)
        except validators.MetadataError as exc:
            raise serializers.ValidationError(exc.errors)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))

    def to_representation(self, value):
        return value


def _text(field: str, required: bool = False):
    return RuleField(lambda value: validators.text(value, field, required=required), required=required)


class CustomerInputSerializer(serializers.Serializer):
    external_id = RuleField(validators.external_id)
    name = _text("name", required=True)
    email = RuleField(validators.email, required=False)
    currency = RuleField(validators.currency, required=False)
    address_line1 = _text("address_line1")
    address_line2 = _text("address_line2")
    city = _text("city")
    state = _text("state")
    postal_code = _text("postal_code")
    country = RuleField(validators.country, required=False)
    tax_rate = DecimalRuleField(validators.tax_rate, required=False, allow_null=True)
    tax_id = RuleField(validators.tax_id, required=False)
    payment_terms_days = IntegerRuleField(validators.payment_terms_days, required=False, allow_null=True)
    billing_starts_on = DateRuleField(validators.optional_date, required=False, allow_null=True)
    billing_ends_on = DateRuleField(validators.optional_date, required=False, allow_null=True)
    is_test = BooleanRuleField(validators.boolean, required=False)
    metadata = MetadataField(required=False)
    parent = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)

    def validate(self, attrs):
        starts = attrs.get("billing_starts_on")
        ends = attrs.get("billing_ends_on")
        try:
            validators.billing_window(starts, ends)
        except ValueError as exc:
            raise serializers.ValidationError({"billing_ends_on": str(exc)})
        return attrs


class CustomerOutputSerializer(serializers.ModelSerializer):
    # The schema says what is returned: "" when no email is known (so no "format: email"), null without a parent.
    email = serializers.CharField(read_only=True, help_text="The billing email address; empty when unknown.")
    parent = serializers.SlugRelatedField(
        slug_field="external_id",
        read_only=True,
        allow_null=True,
        help_text="The reseller's external_id; null without one.",
    )
    tax_rate = serializers.DecimalField(max_digits=7, decimal_places=6, allow_null=True, read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "external_id",
            "name",
            "email",
            "currency",
            "address_line1",
            "address_line2",
            "city",
            "state",
            "postal_code",
            "country",
            "tax_rate",
            "tax_id",
            "payment_terms_days",
            "billing_starts_on",
            "billing_ends_on",
            "is_test",
            "metadata",
            "parent",
            "created_at",
            "updated_at",
            "archived_at",
        ]
        read_only_fields = fields


class BillingRuleInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    target = serializers.ChoiceField(choices=BillingRule.Target.choices)
    pattern = serializers.CharField(max_length=255)
    starts_on = serializers.DateField(required=False, allow_null=True)
    ends_on = serializers.DateField(required=False, allow_null=True)

    def validate_pattern(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("is required")
        return value


class BillingRuleOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = BillingRule
        fields = ["id", "name", "target", "pattern", "starts_on", "ends_on", "created_at"]
        read_only_fields = fields


class CustomerImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    dry_run = serializers.BooleanField(required=False, default=False)


class ImportResultSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    changes = serializers.ListField(child=serializers.DictField(), required=False)
    changes_truncated = serializers.BooleanField(required=False)
