from django import forms

from customers.models import BillingRule


class BillingRuleForm(forms.ModelForm):
    class Meta:
        model = BillingRule
        fields = ["name", "target", "pattern", "starts_on", "ends_on"]
        labels = {"starts_on": "In force from", "ends_on": "In force until (exclusive)"}
        help_texts = {"pattern": "A shell-style pattern, case-insensitive: *-test, admin@*, *sandbox*."}
        widgets = {
            "starts_on": forms.DateInput(attrs={"type": "date"}),
            "ends_on": forms.DateInput(attrs={"type": "date"}),
        }

    def clean_pattern(self):
        pattern = self.cleaned_data["pattern"].strip()
        if not pattern:
            raise forms.ValidationError("must not be empty")
        return pattern

    def clean(self):
        data = super().clean()
        starts_on, ends_on = data.get("starts_on"), data.get("ends_on")
        if starts_on and ends_on and ends_on <= starts_on:
            self.add_error("ends_on", "must be after starts_on")  # the service's rule, named on its field
        return data


class CustomerWindowForm(forms.Form):
    """A customer's own billing rules: go-live, departure, test customer."""

    customer = forms.CharField(label="Customer external ID", max_length=255)
    billing_starts_on = forms.DateField(label="Go-live date", required=False,
                                        widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    billing_ends_on = forms.DateField(label="Departure date", required=False,
                                      widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    is_test = forms.BooleanField(label="Test customer (never billed)", required=False)
