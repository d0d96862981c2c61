from django import forms

from atlas.models import Merchant


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
            "company_name",
            "company_address",
            "company_email",
            "company_tax_id",
            "payment_instructions",
        ]
        widgets = {"company_address": forms.Textarea(attrs={"rows": 3})}
        help_texts = {"default_tax_rate": "A fraction: 0.2 is 20%."}
