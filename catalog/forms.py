"""Cockpit forms for plans: a new plan, a draft's base fields, and one charge.

The forms only turn text into the shapes ``catalog.services`` takes; every pricing rule
(band order, decimals of the currency, matrix dimensions) is the services' and comes back
as a ``ValidationError`` keyed like the API's (``charges[1].tiers[0].up_to``).
:func:`service_errors_to_form` routes those keys onto the form field the merchant typed in.
"""

from decimal import Decimal

from django import forms

from atlas.money import is_currency
from catalog.models import Charge, Metric, PlanVersion, code_validator
from catalog.rating import MODELS

MODEL_LABELS = {
    "per_unit": "Per unit",
    "flat": "Flat fee",
    "tiered": "Tiered (graduated)",
    "volume": "Volume (bulk)",
    "package": "Package",
    "stairstep": "Stairstep",
    "matrix": "Matrix",
    "percentage": "Percentage",
}

# The form fields each pricing model reads; the page's script shows only these.
MODEL_FIELDS = {
    "per_unit": ("unit_amount",),
    "flat": ("amount",),
    "tiered": ("bands",),
    "volume": ("bands",),
    "package": ("package_size", "amount"),
    "stairstep": ("bands",),
    "matrix": ("dimensions", "rows", "default_unit_amount"),
    "percentage": ("rate", "fixed_amount"),
}
PARAMETER_FIELDS = ("unit_amount", "amount", "package_size", "rate", "fixed_amount", "bands", "dimensions", "rows",
                    "default_unit_amount")  # fmt: skip
OPEN_ENDED = {"", "-", "inf", "infinity", "∞", "null", "none"}


def _currency(value: str) -> str:
    value = value.strip().upper()
    if not is_currency(value):
        raise forms.ValidationError(f"{value!r} is not an ISO 4217 currency code (such as USD, EUR, JPY)")
    return value


class PlanCreateForm(forms.Form):
    code = forms.CharField(max_length=100, validators=[code_validator], help_text="Used by the API; cannot change.")
    name = forms.CharField(max_length=200)
    currency = forms.CharField(max_length=3, initial="USD")

    def clean_currency(self):
        return _currency(self.cleaned_data["currency"])


class PlanVersionForm(forms.Form):
    """The plan's name and description, and the draft version's base fields."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    currency = forms.CharField(max_length=3)
    interval = forms.ChoiceField(choices=PlanVersion.Interval.choices)
    interval_count = forms.IntegerField(min_value=1, max_value=120)
    base_fee = forms.DecimalField(min_value=0, max_digits=19)
    base_fee_timing = forms.ChoiceField(choices=PlanVersion.Timing.choices)
    trial_days = forms.IntegerField(min_value=0, max_value=3650)

    CONTENT = ("currency", "interval", "interval_count", "base_fee", "base_fee_timing", "trial_days")

    @classmethod
    def for_version(cls, version: PlanVersion, data=None) -> "PlanVersionForm":
        plan = version.plan
        initial = {"name": plan.name, "description": plan.description}
        initial.update({name: getattr(version, name) for name in cls.CONTENT})
        return cls(data, initial=initial)

    def clean_currency(self):
        return _currency(self.cleaned_data["currency"])

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.CONTENT}


def _amount_text(value) -> str:
    return "" if value is None else format(Decimal(value).normalize(), "f")


class ChargeForm(forms.Form):
    """One charge of a draft. Parameters of other models than the chosen one are ignored."""

    metric = forms.ModelChoiceField(queryset=Metric.objects.none(), to_field_name="code")
    model = forms.ChoiceField(choices=[(model, MODEL_LABELS[model]) for model in MODELS])
    description = forms.CharField(max_length=200, required=False)
    included_units = forms.CharField(required=False, help_text="Units of the allowance taken off before pricing.")
    minimum_amount = forms.CharField(required=False, help_text="Floor for the period (true-up).")
    maximum_amount = forms.CharField(required=False, help_text="Cap for the period.")
    timing = forms.ChoiceField(choices=PlanVersion.Timing.choices, initial=PlanVersion.Timing.IN_ARREARS)
    unit_amount = forms.CharField(required=False)
    amount = forms.CharField(required=False)
    package_size = forms.CharField(required=False)
    rate = forms.CharField(required=False, help_text='A fraction: "0.029" is 2.9%.')
    fixed_amount = forms.CharField(required=False, help_text="Added per event.")
    bands = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="One band a line. Tiered and volume: up_to, unit_amount, flat_amount. "
        "Stairstep: up_to, amount. The last band's up_to is empty (no upper bound).",
    )
    dimensions = forms.CharField(required=False, help_text="Event properties, comma-separated (e.g. region).")
    rows = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="One row a line: one value per dimension, then the unit amount (e.g. eu, 0.02).",
    )
    default_unit_amount = forms.CharField(required=False, help_text="For groups no row matches (optional).")

    def __init__(self, *args, merchant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["metric"].queryset = Metric.objects.filter(merchant=merchant).order_by("code")
        self.fields["metric"].label_from_instance = lambda metric: f"{metric.code} · {metric.name}"

    @classmethod
    def initial_for(cls, charge: Charge) -> dict:
        """The form's fields for an existing charge (the inverse of :meth:`charge`)."""
        params = charge.properties or {}
        initial = {
            "metric": charge.metric.code,
            "model": charge.model,
            "description": charge.description,
            "included_units": _amount_text(charge.included_units),
            "minimum_amount": _amount_text(charge.minimum_amount),
            "maximum_amount": _amount_text(charge.maximum_amount),
            "timing": charge.timing,
        }
        for name in ("unit_amount", "amount", "package_size", "rate", "fixed_amount", "default_unit_amount"):
            if params.get(name) is not None:
                initial[name] = params[name]
        if "tiers" in params:
            initial["bands"] = "\n".join(
                f"{band['up_to'] or ''}, {band['unit_amount']}, {band.get('flat_amount') or '0'}"
                for band in params["tiers"]
            )
        if "steps" in params:
            initial["bands"] = "\n".join(f"{band['up_to'] or ''}, {band['amount']}" for band in params["steps"])
        if "dimensions" in params:
            dimensions = params["dimensions"]
            initial["dimensions"] = ", ".join(dimensions)
            initial["rows"] = "\n".join(
                ", ".join([*(str(row["match"].get(name, "")) for name in dimensions), str(row["unit_amount"])])
                for row in params.get("rows") or []
            )
        return initial

    def clean(self):
        data = super().clean()
        model = data.get("model")
        if model is None:
            return data
        params: dict = {}
        for name in ("unit_amount", "amount", "package_size", "rate", "fixed_amount", "default_unit_amount"):
            if name in MODEL_FIELDS[model] and data.get(name, "").strip():
                params[name] = data[name].strip()
        if model in ("tiered", "volume"):
            params["tiers"] = self._bands(("up_to", "unit_amount", "flat_amount"))
        elif model == "stairstep":
            params["steps"] = self._bands(("up_to", "amount"))
        elif model == "matrix":
            dimensions = [name.strip() for name in data.get("dimensions", "").split(",") if name.strip()]
            params["dimensions"] = dimensions
            params["rows"] = self._matrix_rows(dimensions)
        self.params = params
        return data

    def _lines(self, name: str) -> list[tuple[int, list[str]]]:
        text = self.cleaned_data.get(name, "")
        return [
            (number, [cell.strip() for cell in line.split(",")])
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]

    def _bands(self, columns: tuple[str, ...]) -> list[dict]:
        bands = []
        for number, cells in self._lines("bands"):
            if len(cells) == len(columns) - 1 and columns[-1] == "flat_amount":
                cells.append("0")
            if len(cells) != len(columns):
                self.add_error("bands", f"line {number}: expected {', '.join(columns)}")
                continue
            band = dict(zip(columns, cells, strict=True))
            band["up_to"] = None if band["up_to"].lower() in OPEN_ENDED else band["up_to"]
            bands.append(band)
        return bands

    def _matrix_rows(self, dimensions: list[str]) -> list[dict]:
        rows = []
        for number, cells in self._lines("rows"):
            if len(cells) != len(dimensions) + 1:
                expected = ", ".join([*dimensions, "unit_amount"]) if dimensions else "the dimensions first"
                self.add_error("rows", f"line {number}: expected {expected}")
                continue
            rows.append({"match": dict(zip(dimensions, cells[:-1], strict=True)), "unit_amount": cells[-1]})
        return rows

    def charge(self) -> dict:
        """The charge in the shape ``catalog.services.plan_update`` takes."""
        data = self.cleaned_data
        return {
            "metric": data["metric"],
            "model": data["model"],
            "params": self.params,
            "included_units": data["included_units"].strip() or Decimal("0"),
            "minimum_amount": data["minimum_amount"].strip() or None,
            "maximum_amount": data["maximum_amount"].strip() or None,
            "timing": data["timing"],
            "description": data["description"],
        }


# Service error keys (after the ``charges[i].`` prefix) → the form field that holds them.
_CHARGE_FIELD_OF = {
    "tiers": "bands",
    "steps": "bands",
    "rows": "rows",
    "dimensions": "dimensions",
    "currency": None,
}


def service_errors_to_form(form: forms.Form, detail, *, prefix: str = "") -> None:
    """Attach a service ``ValidationError``'s messages to ``form``: each on the field it names.

    ``prefix`` (``charges[2].``) selects the errors of one charge; keys outside it, and keys
    naming no field of the form, become non-field errors that still say which field failed.
    """
    for key, messages in _flatten(detail):
        message = " ".join(str(item) for item in messages)
        if prefix and key.startswith(prefix):
            key = key[len(prefix) :]
        elif prefix and key == prefix.rstrip("."):
            form.add_error(None, message)
            continue
        head = key.split(".")[0].split("[")[0]
        field = _CHARGE_FIELD_OF.get(head, head)
        if field in form.fields and not (prefix == "" and key.startswith("charges[")):
            if key != head:
                message = f"{_readable_path(key)}: {message}"
            form.add_error(field, message)
        else:
            form.add_error(None, f"{_readable_path(key)}: {message}")


def _flatten(detail, path: str = ""):
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _flatten(value, f"{path}.{key}" if path else str(key))
    elif isinstance(detail, list) and detail and all(not isinstance(item, dict | list) for item in detail):
        yield path, detail
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            yield from _flatten(item, f"{path}[{index}]")
    else:
        yield path, [detail]


def _readable_path(key: str) -> str:
    """``tiers[1].up_to`` → ``band 2, up_to``; ``rows[0].match`` → ``row 1, match``."""
    parts = []
    for part in key.split("."):
        if "[" in part:
            name, index = part.rstrip("]").split("[", 1)
            noun = {"tiers": "band", "steps": "band", "rows": "row", "dimensions": "dimension"}.get(name, name)
            parts.append(f"{noun} {int(index) + 1}" if index.isdigit() else part)
        else:
            parts.append(part)
    return ", ".join(parts)
