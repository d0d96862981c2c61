from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.core.exceptions import ValidationError

from atlas.locales import LOCALE_CHOICES, locale_example
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


class PercentField(forms.DecimalField):
    """A rate entered and shown as a percentage ("20" is 20 %), cleaned to the fraction the model stores (0.2).

    Up to four decimals of a percent (8.875 %), the six decimals of the stored fraction.
    """

    PLACES = "can have at most 4 decimals (8.875 for 8.875 percent)"
    RANGE = "must be a percentage from 0 to 100 (20 for a 20 percent rate)"  # no "%": Django %-formats some

    def __init__(self, **kwargs):
        kwargs.setdefault("error_messages", {})
        for code in ("invalid", "min_value", "max_value"):
            kwargs["error_messages"].setdefault(code, self.RANGE)
        kwargs["error_messages"].setdefault("max_decimal_places", self.PLACES)
        super().__init__(min_value=Decimal(0), max_value=Decimal(100), decimal_places=4, **kwargs)
        self.widget.attrs.update({"step": "any", "inputmode": "decimal"})

    def prepare_value(self, value):
        """The stored fraction shown as a percentage: 0.200000 → 20, 0.088750 → 8.875."""
        if isinstance(value, Decimal):
            percent = (value * 100).normalize()
            return format(percent.quantize(Decimal(1)) if percent == percent.to_integral() else percent, "f")
        return value

    def clean(self, value):
        percent = super().clean(value)
        return None if percent is None else (percent / 100).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)

    def has_changed(self, initial, data):
        try:
            fraction = self.clean(data)
        except ValidationError:
            return True
        return fraction != (Decimal(str(initial)) if initial not in (None, "") else None)


class MerchantSettingsForm(forms.ModelForm):
    """The merchant's settings, in sections. A field added to ``Meta.fields`` shows in the section that names it in
    ``SECTIONS``, or under "Other settings" until one does: the template needs no change."""

    SECTIONS = [
        ("Billing", ["billing_day", "invoice_grace_hours", "payment_terms_days", "invoice_prefix",
                     "default_tax_rate"]),
        ("Formats", ["timezone", "locale"]),
        ("Payments and reminders", ["payment_instructions", "dunning_days"]),
        ("Company details on invoices", ["name", "company_name", "company_address", "company_email",
                                         "company_tax_id"]),
    ]  # fmt: skip

    default_tax_rate = PercentField(
        label="Default tax rate (%)",
        help_text="A percentage: 20 for 20 %. Applied to new invoices; issued ones keep theirs.",
    )

    class Meta:
        model = Merchant
        fields = [
            "name",
            "billing_day",
            "invoice_grace_hours",
            "invoice_prefix",
            "default_tax_rate",
            "timezone",
            "locale",
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
        labels = {"name": "Merchant name", "locale": "Number and date format", "timezone": "Time zone"}
        help_texts = {
            "timezone": "An IANA time zone (Europe/London): where days, months and periods begin.",
            "dunning_days": "Reminder e-mails, in days past due: 3, 7, 14 (empty: none).",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "locale" in self.fields:
            self.fields["locale"].choices = [(code, f"{label} — {locale_example(code)}") for code, label in
                                             LOCALE_CHOICES]  # fmt: skip
            self.fields["locale"].required = False  # left out of a post: the format stays as it is

    def clean_locale(self):
        return self.cleaned_data.get("locale") or self.instance.locale

    def sections(self) -> list[tuple[str, list]]:
        """(title, bound fields) in order; fields no section names come last, under "Other settings"."""
        named = {name for _, names in self.SECTIONS for name in names}
        sections = [(title, [self[name] for name in names if name in self.fields]) for title, names in self.SECTIONS]
        others = [self[name] for name in self.fields if name not in named]
        return [(title, fields) for title, fields in sections + [("Other settings", others)] if fields]
