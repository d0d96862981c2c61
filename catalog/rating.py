"""The rating engine: what one charge costs for one period's quantity (SPEC §3).

Pure computation, no Django and no database. A charge is compiled once into a
``PricedCharge`` (parameters parsed, validated and pre-computed into lookup
tables), then rated many times with nothing but Decimal arithmetic.

Arithmetic is exact: it runs in a private 100-digit context, so nothing is
rounded before the one rounding step, ``atlas.money.round_line`` (half-up to the
currency's minor unit), applied once to each returned amount. The semantics and
every decision the SPEC leaves open are written down in docs/pricing.md.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal

from atlas.money import is_currency, minor_units, parse_decimal, round_line

MODELS = ("per_unit", "flat", "tiered", "volume", "package", "stairstep", "matrix", "percentage")

MAX_DECIMAL_PLACES = 12
MAX_INTEGER_DIGITS = 18

ZERO = Decimal(0)
_ONE = Decimal(1)

# Validated parameters have at most 30 digits, so sums and products with any realistic
# quantity are exact here; the thread's default context (28 digits) could round them early.
_EXACT = Context(prec=100)
_add, _sub, _mul, _divmod = _EXACT.add, _EXACT.subtract, _EXACT.multiply, _EXACT.divmod

_PARAMETERS = {
    "per_unit": ("unit_amount",),
    "flat": ("amount",),
    "tiered": ("tiers",),
    "volume": ("tiers",),
    "package": ("package_size", "amount"),
    "stairstep": ("steps",),
    "matrix": ("dimensions", "rows", "default_unit_amount"),
    "percentage": ("rate", "fixed_amount"),
}


class ChargeParamsError(ValueError):
    """Charge parameters that cannot be priced; ``errors`` maps each field path to its reason."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("invalid charge: " + "; ".join(f"{path}: {reason}" for path, reason in self.errors.items()))


class RatingError(ValueError):
    """A quantity or group that a valid charge cannot price (e.g. a matrix group with no row and no default)."""


@dataclass(frozen=True)
class GroupRating:
    group: dict[str, str]
    quantity: Decimal  # billable, after the included units taken from this group
    unit_amount: Decimal
    amount: Decimal  # rounded once, for this group


@dataclass(frozen=True)
class Rating:
    amount: Decimal  # after included units and the cap, rounded once
    minimum_true_up: Decimal  # rounded; billed as a separate 'minimum' line
    quantity: Decimal  # billable quantity, after included units
    raw_quantity: Decimal
    breakdown: list[dict]
    groups: list[GroupRating] = field(default_factory=list)
    uncapped_amount: Decimal | None = None  # rounded amount before maximum_amount; the breakdown explains this one


# --- validation -------------------------------------------------------------------------------------------------


def validate_params(model: str, params: dict, *, group_by: list[str] | None = None) -> dict:
    """Validate raw charge parameters and return them normalised (Decimals, canonical keys).

    Amounts are strings or ints (or Decimals, so normalised params validate again); floats are refused.
    Raises ``ChargeParamsError`` carrying every field error at once.
    """
    errors: dict[str, str] = {}
    normalised = _validate_params(errors, model, params, group_by)
    if errors:
        raise ChargeParamsError(errors)
    return normalised


def validate_charge(
    *,
    model: str,
    params: dict,
    currency: str,
    included_units=None,
    minimum_amount=None,
    maximum_amount=None,
    group_by: list[str] | None = None,
) -> dict:
    """Validate a whole charge (parameters, currency, allowance, floor and cap) and report all errors at once.

    Returns ``{"model", "params", "currency", "included_units", "minimum_amount", "maximum_amount"}`` normalised;
    the floor and cap come back rounded to the currency (they may not carry more decimals than it has).
    """
    errors: dict[str, str] = {}
    normalised = _validate_params(errors, model, params, group_by)
    currency_ok = is_currency(currency)
    if not currency_ok:
        errors["currency"] = f"unknown currency {currency!r}"
    included = ZERO if included_units is None else _number(errors, "included_units", included_units)
    limits = {}
    for name, value in (("minimum_amount", minimum_amount), ("maximum_amount", maximum_amount)):
        limits[name] = None if value is None else _number(errors, name, value)
        if limits[name] is not None and currency_ok:
            if _decimal_places(limits[name]) > minor_units(currency):
                errors[name] = f"has more decimal places than {currency} allows ({minor_units(currency)})"
            else:
                limits[name] = round_line(limits[name], currency)
    minimum, maximum = limits["minimum_amount"], limits["maximum_amount"]
    if minimum is not None and maximum is not None and minimum > maximum and "minimum_amount" not in errors:
        errors["minimum_amount"] = f"must not be greater than maximum_amount ({maximum})"
    if errors:
        raise ChargeParamsError(errors)
    return {
        "model": model,
        "params": normalised,
        "currency": currency,
        "included_units": included,
        "minimum_amount": minimum,
        "maximum_amount": maximum,
    }


def params_to_json(value):
    """Normalised params as JSON carries them: every Decimal as a plain string ("6.50", never "6.5E+0")."""
    if isinstance(value, Decimal):
        return _text(value)
    if isinstance(value, Mapping):
        return {key: params_to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [params_to_json(item) for item in value]
    return value


def _validate_params(errors: dict[str, str], model, params, group_by) -> dict | None:
    if not isinstance(model, str) or model not in MODELS:
        errors["model"] = f"unknown pricing model {model!r}; expected one of {', '.join(MODELS)}"
        return None
    if not isinstance(params, Mapping):
        errors["params"] = "must be an object"
        return None
    expected = _PARAMETERS[model]
    for key in params:
        if key not in expected:
            errors[str(key)] = f"is not a parameter of the {model} model (expected {', '.join(expected)})"
    return _VALIDATORS[model](errors, params, group_by)


def _decimal_places(number: Decimal) -> int:
    """Decimal places the value needs: trailing zeros do not count ("1.500" needs 1)."""
    _, digits, exponent = number.as_tuple()
    if exponent >= 0 or number.is_zero():
        return 0
    places, index = -exponent, len(digits) - 1
    while places and digits[index] == 0:
        places, index = places - 1, index - 1
    return places


def _number(errors: dict[str, str], path: str, value, *, positive: bool = False) -> Decimal | None:
    """Parse one numeric parameter; on failure record the reason under ``path`` and return None."""
    try:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError("must be a finite number")
            number = value
        else:
            number = parse_decimal(value)
    except ValueError as exc:
        errors[path] = str(exc)
        return None
    if positive and number <= 0:
        errors[path] = "must be greater than 0"
    elif number < 0:
        errors[path] = "must not be negative"
    elif number.adjusted() >= MAX_INTEGER_DIGITS:
        errors[path] = f"is too large (at most {MAX_INTEGER_DIGITS} digits before the decimal point)"
    elif _decimal_places(number) > MAX_DECIMAL_PLACES:
        places = _decimal_places(number)
        errors[path] = f"has {places} decimal places; at most {MAX_DECIMAL_PLACES} are allowed"
    else:
        if number.as_tuple().exponent > 0:  # "1E+3" -> 1000
            number = number.quantize(_ONE)
        return number.copy_abs() if number.is_zero() else number  # "-0" -> 0
    return None


def _required(errors: dict[str, str], params: Mapping, key: str, path: str, **options) -> Decimal | None:
    if params.get(key) is None:
        errors[path] = "is required"
        return None
    return _number(errors, path, params[key], **options)


def _optional(errors: dict[str, str], params: Mapping, key: str, path: str, default=None) -> Decimal | None:
    return default if params.get(key) is None else _number(errors, path, params[key])


def _validate_bands(errors: dict[str, str], params: Mapping, key: str, money: tuple[str, ...]) -> list[dict]:
    """Bands shared by ``tiers`` and ``steps``: ascending inclusive ``up_to``, the last one (only) null."""
    raw = params.get(key)
    if raw is None:
        errors[key] = "is required"
        return []
    if not isinstance(raw, list):
        errors[key] = "must be a list of bands"
        return []
    if not raw:
        errors[key] = "must have at least one band"
        return []
    fields = ("up_to", *money)
    bands, previous, last = [], None, len(raw) - 1
    for index, band in enumerate(raw):
        path = f"{key}[{index}]"
        if not isinstance(band, Mapping):
            errors[path] = "must be an object"
            previous = None
            continue
        for name in band:
            if name not in fields:
                errors[f"{path}.{name}"] = f"is not a band field (expected {', '.join(fields)})"
        up_to = None
        if "up_to" not in band:
            errors[f"{path}.up_to"] = "is required (null for the open-ended last band)"
        elif band["up_to"] is None:
            if index != last:
                errors[f"{path}.up_to"] = "only the last band may be open-ended (null)"
        else:
            up_to = _number(errors, f"{path}.up_to", band["up_to"], positive=True)
            if up_to is not None and index == last:
                errors[f"{path}.up_to"] = "the last band must be open-ended (null)"
            elif up_to is not None and previous is not None and up_to <= previous:
                errors[f"{path}.up_to"] = f"must be greater than the previous band's up_to ({previous})"
        previous = up_to
        normalised = {"up_to": up_to}
        if money == ("amount",):
            normalised["amount"] = _required(errors, band, "amount", f"{path}.amount")
        else:
            if band.get("unit_amount") is None and band.get("flat_amount") is None:
                errors[f"{path}.unit_amount"] = "is required unless flat_amount is given"
            normalised["unit_amount"] = _optional(errors, band, "unit_amount", f"{path}.unit_amount", ZERO)
            normalised["flat_amount"] = _optional(errors, band, "flat_amount", f"{path}.flat_amount", ZERO)
        bands.append(normalised)
    return bands


def _validate_matrix(errors: dict[str, str], params: Mapping, group_by) -> dict:
    raw_dimensions = params.get("dimensions")
    dimensions: list[str] = []
    dimensions_ok = False
    if raw_dimensions is None:
        errors["dimensions"] = "is required"
    elif not isinstance(raw_dimensions, list) or not raw_dimensions:
        errors["dimensions"] = "must be a non-empty list of property names"
    else:
        dimensions_ok = True
        for index, name in enumerate(raw_dimensions):
            path = f"dimensions[{index}]"
            if not isinstance(name, str) or not name:
                errors[path] = "must be a non-empty string"
                dimensions_ok = False
            elif name in dimensions:
                errors[path] = f"repeats {name!r}"
                dimensions_ok = False
            else:
                if group_by is not None and name not in group_by:
                    allowed = ", ".join(group_by) or "none"
                    errors[path] = f"{name!r} is not one of the metric's group_by properties ({allowed})"
                dimensions.append(name)
    default = _optional(errors, params, "default_unit_amount", "default_unit_amount")
    raw_rows = params.get("rows")
    rows, seen = [], {}
    if raw_rows is None:
        raw_rows = []
    if not isinstance(raw_rows, list):
        errors["rows"] = "must be a list of rows"
        raw_rows = []
    if not raw_rows and params.get("default_unit_amount") is None:
        errors["rows"] = "must have at least one row unless default_unit_amount is set"
    for index, row in enumerate(raw_rows):
        path = f"rows[{index}]"
        if not isinstance(row, Mapping):
            errors[path] = "must be an object"
            continue
        for name in row:
            if name not in ("match", "unit_amount"):
                errors[f"{path}.{name}"] = "is not a row field (expected match, unit_amount)"
        unit_amount = _required(errors, row, "unit_amount", f"{path}.unit_amount")
        match = row.get("match")
        if match is None:
            errors[f"{path}.match"] = "is required"
        elif not isinstance(match, Mapping):
            errors[f"{path}.match"] = "must be an object mapping each dimension to a value"
        elif dimensions_ok and set(match) != set(dimensions):
            missing = [name for name in dimensions if name not in match]
            unexpected = [str(name) for name in match if name not in dimensions]
            reason = f"keys must be exactly the dimensions ({', '.join(dimensions)})"
            reason += f"; missing: {', '.join(missing)}" if missing else ""
            reason += f"; unexpected: {', '.join(unexpected)}" if unexpected else ""
            errors[f"{path}.match"] = reason
        elif dimensions_ok:
            bad = [name for name in dimensions if not isinstance(match[name], str)]
            for name in bad:
                errors[f"{path}.match.{name}"] = "must be a string"
            key = tuple(match[name] for name in dimensions)
            if not bad and key in seen:
                errors[f"{path}.match"] = f"repeats the match of rows[{seen[key]}]"
            seen.setdefault(key, index)
            match = {name: match[name] for name in dimensions}
        rows.append({"match": match, "unit_amount": unit_amount})
    return {"dimensions": dimensions, "rows": rows, "default_unit_amount": default}


_VALIDATORS = {
    "per_unit": lambda e, p, g: {"unit_amount": _required(e, p, "unit_amount", "unit_amount")},
    "flat": lambda e, p, g: {"amount": _required(e, p, "amount", "amount")},
    "tiered": lambda e, p, g: {"tiers": _validate_bands(e, p, "tiers", ("unit_amount", "flat_amount"))},
    "volume": lambda e, p, g: {"tiers": _validate_bands(e, p, "tiers", ("unit_amount", "flat_amount"))},
    "package": lambda e, p, g: {
        "package_size": _required(e, p, "package_size", "package_size", positive=True),
        "amount": _required(e, p, "amount", "amount"),
    },
    "stairstep": lambda e, p, g: {"steps": _validate_bands(e, p, "steps", ("amount",))},
    "matrix": _validate_matrix,
    "percentage": lambda e, p, g: {
        "rate": _required(e, p, "rate", "rate"),
        "fixed_amount": _optional(e, p, "fixed_amount", "fixed_amount", ZERO),
    },
}


# --- compiled models ------------------------------------------------------------------------------------------
# Each compiler turns normalised params into two closures over pre-computed tables:
#   exact(q, events) -> the unrounded amount for billable quantity q
#   explain(q, events) -> the JSON-ready breakdown whose entry amounts sum to exact(q, events)


def _text(number: Decimal) -> str:
    """A Decimal as JSON carries it, never in exponent form ("0E-12" -> "0.000000000000")."""
    text = str(number)
    return format(number, "f") if "E" in text else text


def _entry(low, high, units, unit_amount, flat_amount, **extra) -> dict:
    entry = {
        "from": _text(low),
        "to": None if high is None else _text(high),
        "units": _text(units),
        "unit_amount": _text(unit_amount),
        "flat_amount": _text(flat_amount),
        "amount": _text(_add(_mul(units, unit_amount), flat_amount)),
    }
    if extra:
        entry.update(extra)
    return entry


def _compile_per_unit(params):
    price = params["unit_amount"]
    return (lambda q, events: _mul(q, price)), (lambda q, events: [_entry(ZERO, None, q, price, ZERO)])


def _compile_flat(params):
    amount = params["amount"]
    return (lambda q, events: amount if q else ZERO), (
        lambda q, events: [_entry(ZERO, None, q, ZERO, amount)] if q else []
    )


class _Bands:
    """Tiers or steps as parallel tables; ``index(q)`` is the band q falls in (up_to inclusive)."""

    def __init__(self, bands, unit_key, flat_key):
        self.uppers = [band["up_to"] for band in bands[:-1]]
        self.tops = [*self.uppers, None]
        self.lowers = [ZERO, *self.uppers]
        self.units = [band[unit_key] if unit_key else ZERO for band in bands]
        self.flats = [band[flat_key] for band in bands]

    def index(self, q):
        return bisect_left(self.uppers, q)

    def entries(self, q, last):
        """Bands 0..last entered by q, each with the units that fall inside it."""
        u = self.uppers
        return [
            _entry(
                self.lowers[i],
                self.tops[i],
                _sub(u[i] if i < last else q, self.lowers[i]),
                self.units[i],
                self.flats[i],
            )
            for i in range(last + 1)
        ]


def _compile_tiered(params):
    bands = _Bands(params["tiers"], "unit_amount", "flat_amount")
    # amount(q) in band k = offsets[k] + q * units[k]: the full bands below, band k's flat, minus the units below k.
    offsets, below = [], ZERO
    for k, (low, unit, flat) in enumerate(zip(bands.lowers, bands.units, bands.flats, strict=True)):
        offsets.append(_sub(_add(below, flat), _mul(low, unit)))
        if k < len(bands.uppers):
            below = _add(_add(below, flat), _mul(_sub(bands.uppers[k], low), unit))
    uppers, units = bands.uppers, bands.units

    def exact(q, events):
        k = bisect_left(uppers, q)
        return _add(offsets[k], _mul(q, units[k]))

    return exact, lambda q, events: bands.entries(q, bands.index(q))


def _compile_volume(params):
    bands = _Bands(params["tiers"], "unit_amount", "flat_amount")
    uppers, units, flats = bands.uppers, bands.units, bands.flats

    # At q = 0 the first band is the one reached, as in graduated pricing: its flat fee is due (SPEC §11.1).
    def exact(q, events):
        k = bisect_left(uppers, q)
        return _add(_mul(q, units[k]), flats[k])

    def explain(q, events):
        k = bands.index(q)
        return [_entry(bands.lowers[k], bands.tops[k], q, units[k], flats[k])]

    return exact, explain


def _compile_stairstep(params):
    bands = _Bands(params["steps"], None, "amount")
    totals, running = [], ZERO
    for amount in bands.flats:
        running = _add(running, amount)
        totals.append(running)
    uppers = bands.uppers

    def exact(q, events):
        return totals[bisect_left(uppers, q)] if q else ZERO

    return exact, lambda q, events: bands.entries(q, bands.index(q)) if q else []


def _compile_package(params):
    size, price = params["package_size"], params["amount"]

    def packages(q):
        whole, rest = _divmod(q, size)
        return _add(whole, _ONE) if rest else whole

    def explain(q, events):
        if not q:
            return []
        count = packages(q)
        flat = _mul(count, price)
        extra = {"packages": _text(count), "package_size": _text(size), "package_amount": _text(price)}
        return [_entry(ZERO, None, q, ZERO, flat, **extra)]

    return (lambda q, events: _mul(packages(q), price)), explain


def _compile_percentage(params):
    rate, fixed = params["rate"], params["fixed_amount"]

    def exact(q, events):
        return _add(_mul(q, rate), _mul(fixed, events)) if events else _mul(q, rate)

    def explain(q, events):
        extra = {"events_count": str(events), "fixed_amount": _text(fixed)}
        return [_entry(ZERO, None, q, rate, _mul(fixed, events), **extra)]

    return exact, explain


_COMPILERS = {
    "per_unit": _compile_per_unit,
    "flat": _compile_flat,
    "tiered": _compile_tiered,
    "volume": _compile_volume,
    "package": _compile_package,
    "stairstep": _compile_stairstep,
    "percentage": _compile_percentage,
}


def _quantity(value) -> Decimal:
    if value.__class__ is Decimal and value.is_finite():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if value is None:
        raise RatingError("quantity is required")
    raise RatingError(f"quantity must be a finite Decimal or an int, not {value!r}")


class PricedCharge:
    """A charge compiled once (params parsed, validated, tabulated), then rated many times: the hot path."""

    __slots__ = (
        "model", "params", "currency", "included_units", "minimum_amount", "maximum_amount",
        "_exact", "_explain", "_zero", "_dimensions", "_prices", "_default",
    )  # fmt: skip

    def __init__(self, *, model, params, currency, included_units=ZERO, minimum_amount=None, maximum_amount=None):
        charge = validate_charge(
            model=model,
            params=params,
            currency=currency,
            included_units=included_units,
            minimum_amount=minimum_amount,
            maximum_amount=maximum_amount,
        )
        self.model = model
        self.params = charge["params"]
        self.currency = currency
        self.included_units = charge["included_units"]
        self.minimum_amount = charge["minimum_amount"]
        self.maximum_amount = charge["maximum_amount"]
        self._zero = round_line(ZERO, currency)
        if model == "matrix":
            self._dimensions = tuple(self.params["dimensions"])
            self._prices = {tuple(row["match"].values()): row["unit_amount"] for row in self.params["rows"]}
            self._default = self.params["default_unit_amount"]
        else:
            self._exact, self._explain = _COMPILERS[model](self.params)

    def __repr__(self):
        return f"<PricedCharge {self.model} {self.currency}>"

    def rate(self, quantity=None, *, groups=None, events_count: int = 0) -> Rating:
        """Price the period's usage with its breakdown; ``groups`` (matrix only) maps dimension tuples to quantities."""
        if events_count < 0:
            raise RatingError("events_count must not be negative")
        breakdown: list[dict] = []
        group_ratings: list[GroupRating] = []
        try:
            if self.model == "matrix":
                raw, lines = self._matrix_lines(quantity, groups)
                billable = ZERO
                subtotal = self._zero
                for key, units, taken, price, amount in lines:
                    group = dict(zip(self._dimensions, key, strict=True))
                    group_ratings.append(GroupRating(group=group, quantity=units, unit_amount=price, amount=amount))
                    breakdown.append({
                        "group": group, "units": _text(units), "included_units": _text(taken),
                        "unit_amount": _text(price), "amount": _text(amount),
                    })  # fmt: skip
                    billable = _add(billable, units)
                    subtotal += amount
            else:
                if groups is not None:
                    raise RatingError(f"groups apply only to matrix charges, not {self.model}")
                raw = _quantity(quantity)
                billable = _sub(raw, self.included_units)
                if billable <= 0:
                    billable = ZERO
                subtotal = round_line(self._exact(billable, events_count), self.currency)
                breakdown = self._explain(billable, events_count)
        except ArithmeticError as exc:
            raise RatingError(f"cannot rate {quantity!r}: the amount is out of range for {self.currency}") from exc
        amount = subtotal
        if self.maximum_amount is not None and amount > self.maximum_amount:
            amount = self.maximum_amount
        true_up = self._zero
        if self.minimum_amount is not None and amount < self.minimum_amount:
            true_up = self.minimum_amount - amount
        return Rating(
            amount=amount,
            minimum_true_up=true_up,
            quantity=billable,
            raw_quantity=raw,
            breakdown=breakdown,
            groups=group_ratings,
            uncapped_amount=subtotal,
        )

    def amount(self, quantity=None, *, groups=None, events_count: int = 0) -> Decimal:
        """The fast path: ``rate(...).amount`` (capped, rounded, without the minimum true-up), no breakdown."""
        if events_count < 0:
            raise RatingError("events_count must not be negative")
        try:
            if self.model == "matrix":
                amount = self._zero
                for line in self._matrix_lines(quantity, groups, ordered=False)[1]:
                    amount += line[4]
            else:
                if quantity.__class__ is not Decimal or not quantity.is_finite() or groups is not None:
                    if groups is not None:
                        raise RatingError(f"groups apply only to matrix charges, not {self.model}")
                    quantity = _quantity(quantity)
                if self.included_units:
                    quantity = _sub(quantity, self.included_units)
                if quantity <= 0:
                    quantity = ZERO
                amount = round_line(self._exact(quantity, events_count), self.currency)
        except ArithmeticError as exc:
            raise RatingError(f"cannot rate {quantity!r}: the amount is out of range for {self.currency}") from exc
        if self.maximum_amount is not None and amount > self.maximum_amount:
            return self.maximum_amount
        return amount

    def _matrix_lines(self, quantity, groups, *, ordered=True):
        """Per group, sorted by key if ``ordered``: (key, billable units, included units taken, unit price, amount)."""
        if groups is None:
            raise RatingError("matrix charges are rated per group: pass groups={(value, ...): quantity}")
        if not isinstance(groups, Mapping):
            raise RatingError("groups must map tuples of dimension values to quantities")
        prices, lines, raw = self._prices, [], ZERO
        for key, value in groups.items():
            price = prices.get(key) if key.__class__ is tuple else None
            if price is None:
                key, price = self._unmatched_group(key)
            units = value if value.__class__ is Decimal and value.is_finite() else _quantity(value)
            raw = _add(raw, units)
            lines.append([key, units if units > 0 else ZERO, ZERO, price])
        if quantity is not None and _quantity(quantity) != raw:
            raise RatingError(f"quantity {quantity} does not equal the sum of the group quantities ({raw})")
        allowance = self.included_units
        if allowance:
            # The allowance goes to the dearest groups first (ties: by group values), the customer's best case.
            for line in sorted(lines, key=lambda line: (-line[3], line[0])):
                taken = min(line[1], allowance)
                line[1], line[2], allowance = _sub(line[1], taken), taken, _sub(allowance, taken)
                if not allowance:
                    break
        if ordered:
            lines.sort(key=lambda line: line[0])
        currency = self.currency
        return raw, [
            (key, units, taken, price, round_line(_mul(units, price), currency)) for key, units, taken, price in lines
        ]

    def _unmatched_group(self, key) -> tuple[tuple[str, ...], Decimal]:
        """The slow path for a group no row matched directly: check its shape, then fall back to the default."""
        dimensions = self._dimensions
        if not isinstance(key, tuple) or len(key) != len(dimensions) or not all(isinstance(v, str) for v in key):
            raise RatingError(f"group {key!r} must be a tuple of {len(dimensions)} string(s): {', '.join(dimensions)}")
        key = tuple(key)
        price = self._prices.get(key, self._default)
        if price is None:
            group = dict(zip(dimensions, key, strict=True))
            raise RatingError(f"no matrix row matches group {group} and the charge has no default_unit_amount")
        return key, price


def rate(
    *,
    model: str,
    params: dict,
    currency: str,
    quantity: Decimal | None = None,
    groups: Mapping[tuple[str, ...], Decimal] | None = None,
    events_count: int = 0,
    included_units: Decimal = ZERO,
    minimum_amount: Decimal | None = None,
    maximum_amount: Decimal | None = None,
) -> Rating:
    """Convenience for one-off ratings: ``PricedCharge(...).rate(...)``."""
    charge = PricedCharge(
        model=model,
        params=params,
        currency=currency,
        included_units=included_units,
        minimum_amount=minimum_amount,
        maximum_amount=maximum_amount,
    )
    return charge.rate(quantity, groups=groups, events_count=events_count)
