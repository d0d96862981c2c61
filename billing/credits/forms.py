"""The cockpit's credit grant form."""

from django import forms


class CreditGrantForm(forms.Form):
    """The API's credit grant fields; validated by ``billing.serializers.CreditGrantInputSerializer``."""

    amount = forms.CharField(max_length=40, help_text='A decimal amount such as "100.00".')
    currency = forms.CharField(max_length=3, required=False, help_text="Empty: the customer's currency.")
    priority = forms.IntegerField(required=False, min_value=0, max_value=32767, initial=100,
                                  help_text="Lower is consumed first.")  # fmt: skip
    expires_at = forms.DateTimeField(
        required=False, label="Expires at (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    reason = forms.CharField(max_length=300, required=False)

    prefix = "grant"
