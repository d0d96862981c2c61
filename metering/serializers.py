"""Shapes of the metering API. Ingestion validates with plain code (metering.ingestion.validation); these
serializers shape output and document the request bodies in the OpenAPI schema."""

from rest_framework import serializers

from metering.models import Event


class EventInputSerializer(serializers.Serializer):
    """Documentation of one event as posted (validated by ``metering.ingestion.validation.validate_event``)."""

    transaction_id = serializers.CharField(max_length=255, help_text="Unique per merchant: a re-send is a duplicate.")
    customer = serializers.CharField(max_length=255, help_text="The customer's external_id.")
    code = serializers.CharField(max_length=255, help_text="The event code (metering id) metrics listen to.")
    timestamp = serializers.CharField(
        required=False, help_text="ISO 8601 or epoch seconds; defaults to receipt time; at most 5 minutes ahead."
    )
    properties = serializers.DictField(required=False, help_text="A flat object of strings, numbers and booleans.")
    subscription = serializers.CharField(required=False, max_length=255, help_text="Tags the event to a subscription.")


class EventBatchInputSerializer(serializers.Serializer):
    events = EventInputSerializer(many=True, help_text="At most 1,000 events.")


class IngestStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["accepted", "duplicate"])


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"])
    errors = serializers.DictField(child=serializers.CharField(), required=False)


class BatchReportSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = EventResultSerializer(many=True)


class EventSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.external_id")
    subscription = serializers.CharField(source="subscription_external_id")

    class Meta:
        model = Event
        fields = ["id", "transaction_id", "customer", "code", "timestamp", "properties", "subscription", "received_at"]
        read_only_fields = fields
