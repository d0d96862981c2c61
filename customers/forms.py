"""The cockpit's customer form ("New customer", "Edit customer"): the API's field rules (``customers.validators``),
with labels for people and the tax rate entered as a percentage."""

from decimal import Decimal, InvalidOperation

from django import forms

from customers import validators

TAX_HELP = "A percentage: 20 means 20 %. Leave blank to use the merchant's default."


def _sentence(reason: str) -> str:
    """A validator's reason ("must be after billing_starts_on") as a sentence next to the field."""
    return reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")


class CustomerForm(forms.Form):
    external_id = forms.CharField(label="External ID", max_length=255, help_text="Your id for this customer.")
    name = forms.CharField(label="Name", max_length=255)
    email = forms.CharField(label="Email", required=False, max_length=254, help_text="Where invoices go.")
    currency = forms.CharField(label="Currency", max_length=3, initial="USD", help_text="ISO 4217, such as USD.")
    address_line1 = forms.CharField(label="Address line 1", required=False, max_length=255)
    address_line2 = forms.CharField(label="Address line 2", required=False, max_length=255)
    city = forms.CharField(label="City", required=False, max_length=100)
    state = forms.CharField(label="State", required=False, max_length=100)
    postal_code = forms.CharField(label="Postal code", required=False, max_length=20)
    country = forms.CharField(label="Country", required=False, max_length=2, help_text="Two letters, such as DE.")
    tax_rate = forms.CharField(label="Tax rate (%)", required=False, max_length=20, help_text=TAX_HELP)
    billing_starts_on = forms.DateField(
        label="Billing starts on", required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Go-live: nothing is billed before this date.",
    )  # fmt: skip
    billing_ends_on = forms.DateField(
        label="Billing ends on", required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Departure: nothing is billed from this date.",
    )  # fmt: skip
    is_test = forms.BooleanField(label="Test customer (never billed)", required=False)

    def __init__(self, *args, customer=None, **kwargs):
        super().__init__(*args, **kwargs)
        if customer is not None:  # the external id is the customer's address: it never changes
            self.fields["external_id"].disabled = True

    def _rule(self, name, rule):
        try:
            return rule(self.cleaned_data.get(name, ""))
        except ValueError as exc:
            raise forms.ValidationError(_sentence(str(exc)))

    def clean_external_id(self):
        return self._rule("external_id", validators.external_id)

    def clean_name(self):
        return self._rule("name", lambda value: validators.text(value, "name", required=True))

    def clean_email(self):
        return self._rule("email", validators.email)

    def clean_currency(self):
        return self._rule("currency", validators.currency)

    def clean_country(self):
        return self._rule("country", validators.country)

    def clean_tax_rate(self):
        """A percentage in the form, a fraction in the database: "20" is stored as 0.2, "7.5" as 0.075."""
        raw = (self.cleaned_data.get("tax_rate") or "").strip().rstrip("%").strip()
        if not raw:
            return None
        try:
            percent = Decimal(raw.replace(",", "."))
        except InvalidOperation:
            raise forms.ValidationError("Enter a percentage such as 20 or 7.5.")
        if not percent.is_finite() or percent < 0 or percent > 100:
            raise forms.ValidationError("Enter a percentage between 0 and 100.")
        rate = percent.scaleb(-2)
        if -rate.as_tuple().exponent > 6:
            raise forms.ValidationError("Use at most 4 decimal places (such as 7.6543).")
        return rate

    def clean(self):
        data = super().clean()
        try:
            validators.billing_window(data.get("billing_starts_on"), data.get("billing_ends_on"))
        except ValueError as exc:
            self.add_error("billing_ends_on", _sentence(str(exc)))
        return data

    @staticmethod
    def initial_for(customer) -> dict:
        initial = {name: getattr(customer, name) for name in (
            "external_id", "name", "email", "currency", "address_line1", "address_line2", "city", "state",
            "postal_code", "country", "billing_starts_on", "billing_ends_on", "is_test",
        )}  # fmt: skip
        if customer.tax_rate is not None:
            text = format(customer.tax_rate.scaleb(2).normalize(), "f")
            initial["tax_rate"] = text
        return initial
