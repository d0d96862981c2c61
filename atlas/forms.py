from django import forms

from atlas.models import Merchant, validate_dunning_days


class DaysField(forms.CharField):
    """Reminder steps typed as "3, 7, 14" (an empty field: no reminders)."""

    def __init__(self, *, encoder=None, decoder=None, **kwargs):  # what a JSONField hands its form field
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return ", ".join(str(day) for day in value) if isinstance(value, list) else value

    def to_python(self, value) -> list[int]:
        text = super().to_python(value)
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not all(part.isascii() and part.isdigit() for part in parts):
            raise forms.ValidationError("Whole days separated by commas, e.g. 3, 7, 14.")
        days = [int(part) for part in parts]
        validate_dunning_days(days)
        return days


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where this key is used, e.g. 'production ingest'.")


class MerchantSettingsForm(forms.ModelForm):
    class Meta:
        model = Merchant
        fields = [
            "name",
            "billing_day",
            "invoice_grace_hours",
            "invoice_prefix",
            "default_tax_rate",
            "timezone",
            "payment_terms_days",
            "dunning_days",
            "company_name",
            "company_address",
            "company_email",
            "company_tax_id",
            "payment_instructions",
        ]
        field_classes = {"dunning_days": DaysField}
        widgets = {"company_address": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "default_tax_rate": "A fraction: 0.2 is 20%.",
            "dunning_days": "Reminder e-mails, in days past due: 3, 7, 14 (empty: none).",
        }
