"""Serializer fields shared by every app's API."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import fields, serializers

from atlas.money import to_str


@extend_schema_field(OpenApiTypes.STR)
class MoneyField(serializers.Field):
    """A read-only amount as JSON carries it (SPEC §2): a string with its currency's decimals.

    The currency is read from the same object at ``currency_source`` (dotted, like ``source``).
    """

    def __init__(self, *, currency_source: str = "currency", **kwargs):
        kwargs["read_only"] = True
        self.currency_attrs = currency_source.split(".")
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        return instance

    def to_representation(self, instance):
        amount = fields.get_attribute(instance, self.source_attrs)
        return to_str(amount, fields.get_attribute(instance, self.currency_attrs))
