"""Cockpit forms for plans: a new plan, a draft's base fields, and one charge.

The forms only turn text into the shapes ``catalog.services`` takes; every pricing rule
(band order, decimals of the currency, matrix dimensions) is the services' and comes back
as a ``ValidationError`` keyed like the API's (``charges[1].tiers[0].up_to``).
:func:`service_errors_to_form` routes those keys onto the form field the merchant typed in.
"""

from decimal import Decimal

from django import forms

from atlas.money import is_currency
from catalog.models import Charge, Feature, Metric, PlanFeature, PlanVersion, code_validator
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
# The tier editor's columns: tiered and volume bands use the first three, stairstep steps up_to and amount.
BAND_COLUMNS = ("up_to", "unit_amount", "flat_amount", "amount")
BAND_COLUMNS_OF = {
    "tiered": ("up_to", "unit_amount", "flat_amount"),
    "volume": ("up_to", "unit_amount", "flat_amount"),
    "stairstep": ("up_to", "amount"),
}


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
    # The tier editor's rows arrive as parallel lists (band_up_to, band_unit_amount, band_flat_amount,
    # band_amount: see BAND_COLUMNS); this field only carries the bands' errors onto the page.
    bands = forms.CharField(required=False, widget=forms.HiddenInput, label="Bands")
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
        if "tiers" in params or "steps" in params:
            initial["band_rows"] = [
                {name: "" if band.get(name) is None else str(band[name]) for name in BAND_COLUMNS}
                for band in params.get("tiers") or params.get("steps")
            ]
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

    def band_rows(self) -> list[dict]:
        """The tier editor's rows as typed (every column), blank rows included: for rendering the editor again."""
        if not self.is_bound:
            return list(self.initial.get("band_rows") or [])
        columns = {name: self.data.getlist(f"band_{name}") for name in BAND_COLUMNS}
        length = max((len(cells) for cells in columns.values()), default=0)
        return [
            {name: (cells[index].strip() if index < len(cells) else "") for name, cells in columns.items()}
            for index in range(length)
        ]

    def _bands(self, columns: tuple[str, ...]) -> list[dict]:
        """The rows of the model's columns; a row with every cell empty is skipped, an empty up_to is open-ended.

        Empty amount cells are left out, so the rating engine's own defaults and errors apply
        (a tier's ``flat_amount`` defaults to 0; ``unit_amount`` is required unless a flat amount is given).
        """
        bands = []
        for row in self.band_rows():
            cells = {name: row[name] for name in columns}
            if not any(cells.values()):
                continue
            band = {"up_to": cells["up_to"] or None}
            band.update({name: value for name, value in cells.items() if name != "up_to" and value})
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


# --- metrics and features ----------------------------------------------------------------------------------------
# These forms only turn text into the API's JSON shapes; the API's serializers then validate them, so a rule
# (a field for every aggregation but count, a window only for a rolling period, a metric only on a limit
# feature, …) reads the same on the page as in a 400, and names the same field.


def split_list(text: str) -> list[str]:
    """``"api_call, api_request"`` → ``["api_call", "api_request"]`` (empty items dropped)."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def whole_number(text: str):
    """An integer when the text is one; otherwise the text itself, for the serializer to refuse by name."""
    text = (text or "").strip()
    try:
        return int(text)
    except ValueError:
        return text


class MetricForm(forms.Form):
    code = forms.CharField(max_length=100, help_text="Used by the API and in events' metrics; cannot change.")
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    event_codes = forms.CharField(label="Event codes", help_text="The event codes that feed it, comma-separated.")
    aggregation = forms.ChoiceField(choices=Metric.Aggregation.choices, initial=Metric.Aggregation.COUNT)
    field = forms.CharField(
        required=False, label="Property", help_text="The event property aggregated (all but count)."
    )
    filters = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text="One property a line with its allowed values: region: eu, us",
    )
    group_by = forms.CharField(required=False, label="Group by", help_text="Event properties, comma-separated.")
    period = forms.ChoiceField(choices=Metric.Period.choices, initial=Metric.Period.BILLING_PERIOD)
    window_seconds = forms.CharField(required=False, label="Window (seconds)", help_text="Rolling periods only.")

    DEFINITION = ("event_codes", "aggregation", "field", "filters", "group_by", "period", "window_seconds")

    def __init__(self, *args, metric: Metric | None = None, locked: bool = False, **kwargs):
        if metric is not None:
            kwargs.setdefault("initial", self.initial_for(metric))
        super().__init__(*args, **kwargs)
        self.metric = metric
        if metric is not None:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = "Cannot change: clients and plans refer to it."
        if locked:
            for name in self.DEFINITION:
                self.fields[name].disabled = True

    @staticmethod
    def initial_for(metric: Metric) -> dict:
        return {
            "code": metric.code,
            "name": metric.name,
            "description": metric.description,
            "event_codes": ", ".join(metric.event_codes),
            "aggregation": metric.aggregation,
            "field": metric.field,
            "filters": "\n".join(f"{prop}: {', '.join(values)}" for prop, values in (metric.filters or {}).items()),
            "group_by": ", ".join(metric.group_by),
            "period": metric.period,
            "window_seconds": "" if metric.window_seconds is None else str(metric.window_seconds),
        }

    def clean_filters(self):
        filters: dict[str, list[str]] = {}
        for number, line in enumerate((self.cleaned_data.get("filters") or "").splitlines(), start=1):
            if not line.strip():
                continue
            prop, colon, values = line.partition(":")
            if not colon or not prop.strip():
                raise forms.ValidationError(f"line {number}: expected property: value, value")
            filters[prop.strip()] = split_list(values)
        return filters

    def payload(self) -> dict:
        """The metric as the API takes it: only the fields that are not locked (a locked field is not sent)."""
        data = self.cleaned_data
        payload = {
            "name": data["name"],
            "description": data["description"],
            "event_codes": split_list(data["event_codes"]),
            "aggregation": data["aggregation"],
            "field": data["field"].strip(),
            "filters": data["filters"],
            "group_by": split_list(data["group_by"]),
            "period": data["period"],
            "window_seconds": whole_number(data["window_seconds"]) if data["window_seconds"].strip() else None,
        }
        if self.metric is None:
            payload["code"] = data["code"].strip()
        return {name: value for name, value in payload.items() if not self.fields[name].disabled}


class FeatureForm(forms.Form):
    key = forms.CharField(max_length=100, help_text="Used by the API's entitlement checks; cannot change.")
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    kind = forms.ChoiceField(choices=Feature.Kind.choices, help_text="Cannot change once created.")
    metric = forms.ChoiceField(required=False, help_text="Limit features: the metric whose usage is limited.")
    default_limit = forms.CharField(required=False, label="Default limit", help_text="-1 unlimited, 0 no access.")
    default_enabled = forms.BooleanField(required=False, label="Enabled by default")
    default_value = forms.CharField(max_length=500, required=False, label="Default value")

    KIND_FIELDS = {"limit": ("metric", "default_limit"), "boolean": ("default_enabled",), "value": ("default_value",)}

    def __init__(self, *args, merchant, feature: Feature | None = None, metric_locked: bool = False, **kwargs):
        if feature is not None:
            kwargs.setdefault("initial", self.initial_for(feature))
        super().__init__(*args, **kwargs)
        self.feature = feature
        metrics = Metric.objects.filter(merchant=merchant).order_by("code").values_list("code", "name")
        self.fields["metric"].choices = [("", "—"), *((code, f"{code} · {name}") for code, name in metrics)]
        if feature is not None:
            self.fields["key"].disabled = True
            self.fields["kind"].disabled = True
            if metric_locked:
                self.fields["metric"].disabled = True

    @staticmethod
    def initial_for(feature: Feature) -> dict:
        return {
            "key": feature.key,
            "name": feature.name,
            "description": feature.description,
            "kind": feature.kind,
            "metric": feature.metric.code if feature.metric_id else "",
            "default_limit": "" if feature.default_limit is None else str(feature.default_limit),
            "default_enabled": feature.default_enabled,
            "default_value": feature.default_value,
        }

    def payload(self) -> dict:
        data = self.cleaned_data
        payload = {
            "name": data["name"],
            "description": data["description"],
            "metric": data["metric"] or None,
            "default_limit": whole_number(data["default_limit"]) if data["default_limit"].strip() else None,
            "default_enabled": data["default_enabled"],
            "default_value": data["default_value"],
        }
        if self.feature is None:
            payload.update(key=data["key"].strip(), kind=data["kind"])
        return {name: value for name, value in payload.items() if not self.fields[name].disabled}


# --- a draft's features and one-time fees ------------------------------------------------------------------------


class PlanFeatureForm(forms.Form):
    """A feature's value in a draft: a limit (with its enforcement), on or off, or a value, by the feature's kind."""

    feature = forms.ChoiceField()
    limit = forms.CharField(required=False, help_text="Limit features: -1 unlimited, 0 no access.")
    enforcement = forms.ChoiceField(
        choices=PlanFeature.Enforcement.choices, initial=PlanFeature.Enforcement.HARD, required=False,
        help_text="Limit features: hard refuses past the limit, soft reports the overage.",
    )  # fmt: skip
    enabled = forms.BooleanField(required=False, help_text="Boolean features.")
    value = forms.CharField(max_length=500, required=False, help_text="Value features.")

    def __init__(self, *args, features: list[Feature], line: PlanFeature | None = None, **kwargs):
        if line is not None:
            kwargs.setdefault("initial", {
                "feature": line.feature.key,
                "limit": "" if line.limit is None else str(line.limit),
                "enforcement": line.enforcement,
                "enabled": bool(line.enabled),
                "value": line.value,
            })  # fmt: skip
        super().__init__(*args, **kwargs)
        self.by_key = {feature.key: feature for feature in features}
        self.kinds = {feature.key: feature.kind for feature in features}
        self.fields["feature"].choices = [
            (feature.key, f"{feature.key} · {feature.name} ({feature.kind})") for feature in features
        ]
        if line is not None:
            self.fields["feature"].disabled = True

    def payload(self) -> dict:
        """The line as the API takes it: the one value the feature's kind has (``limit``, ``enabled`` or ``value``)."""
        data = self.cleaned_data
        feature = self.by_key[data["feature"]]
        payload: dict = {"feature": feature.key}
        if feature.kind == Feature.Kind.LIMIT:
            if data["limit"].strip():
                payload["limit"] = whole_number(data["limit"])
            payload["enforcement"] = data["enforcement"] or PlanFeature.Enforcement.HARD
        elif feature.kind == Feature.Kind.BOOLEAN:
            payload["enabled"] = data["enabled"]
        else:
            payload["value"] = data["value"]
        return payload


class OneTimeFeeForm(forms.Form):
    name = forms.CharField(max_length=200)
    amount = forms.CharField(help_text="Billed once, on a subscription's first invoice.")

    def payload(self) -> dict:
        return {"name": self.cleaned_data["name"], "amount": self.cleaned_data["amount"].strip()}


def serializer_errors_to_form(form: forms.Form, errors: dict) -> None:
    """A DRF serializer's ``errors`` onto the form: each on the field it names, the rest as non-field errors."""
    for key, messages in _flatten(errors):
        message = " ".join(str(item) for item in messages)
        head = key.split(".")[0].split("[")[0]
        if head in form.fields and not form.fields[head].disabled:
            form.add_error(head, message if key == head else f"{_readable_path(key)}: {message}")
        elif head == "non_field_errors":
            form.add_error(None, message)
        else:
            form.add_error(None, f"{_readable_path(key)}: {message}")
