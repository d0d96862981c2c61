"""Forms of the customer page: provision or deprovision a user, grant credits.

They check what a person types; the services (``metering.provisioning``, ``billing.credits``)
and the API's credit grant rules decide the rest, and their errors land on the same fields.
"""

from django import forms


class ProvisionForm(forms.Form):
    external_id = forms.CharField(max_length=255, label="User id", help_text="Your id for this person.")
    email = forms.EmailField(required=False)
    name = forms.CharField(max_length=255, required=False)
    provisioned_at = forms.DateTimeField(
        required=False, label="From (UTC)", help_text="Empty: now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )  # fmt: skip

    prefix = "provision"

    def clean_external_id(self):
        value = self.cleaned_data["external_id"].strip()
        if not value or "/" in value:
            raise forms.ValidationError("must be a non-empty id without '/'")
        return value


class DeprovisionForm(forms.Form):
    at = forms.DateTimeField(
        required=False, label="At (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    prefix = "deprovision"


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
