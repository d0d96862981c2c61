"""Input and output shapes of a billing run."""

from datetime import datetime

from django.utils import timezone
from rest_framework import serializers

from billing.runs.engine import as_of_check


class BillingRunInputSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()

    def validate_as_of(self, value: datetime) -> datetime:
        try:
            as_of_check(value, now=timezone.now())
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))
        return value


class BillingRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    as_of = serializers.DateTimeField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()
    stats = serializers.JSONField()
