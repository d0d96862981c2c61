"""The customer page's provisioning forms."""

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
