"""Input and output shapes of a billing run."""

from rest_framework import serializers


class BillingRunInputSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()


class BillingRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    as_of = serializers.DateTimeField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()
    stats = serializers.JSONField()
