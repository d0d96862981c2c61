"""The rating engine, without a database: worked examples, band edges, validation and properties (SPEC §3)."""

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas.money import minor_units
from catalog.rating import (
    MODELS,
    ChargeParamsError,
    GroupRating,
    PricedCharge,
    RatingError,
    params_to_json,
    rate,
    validate_charge,
    validate_params,
)

D = Decimal

# Bands 1-5 at 7.00, 6-10 at 6.50, above at 6.00.
TIERS = [
    {"up_to": "5", "unit_amount": "7.00", "flat_amount": "0"},
    {"up_to": "10", "unit_amount": "6.50", "flat_amount": "0"},
    {"up_to": None, "unit_amount": "6.00", "flat_amount": "0"},
]
STEPS = [{"up_to": "10", "amount": "100.00"}, {"up_to": "50", "amount": "50.00"}, {"up_to": None, "amount": "25.00"}]
PACKAGE = {"package_size": "20", "amount": "10.00"}
MATRIX = {
    "dimensions": ["region", "tier"],
    "rows": [
        {"match": {"region": "eu", "tier": "pro"}, "unit_amount": "0.02"},
        {"match": {"region": "eu", "tier": "free"}, "unit_amount": "0.01"},
    ],
    "default_unit_amount": "0.05",
}


def amount_of(model, params, quantity, currency="USD", **options) -> Decimal:
    return rate(model=model, params=params, currency=currency, quantity=D(quantity), **options).amount


# --- per_unit and flat --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("0", "0.00"), ("1000", "1.20"), ("2.5", "0.00"), ("4", "0.00"), ("5", "0.01"), ("12345", "14.81")],
)
def test_per_unit_multiplies_and_rounds_half_up_once(quantity, expected):
    assert amount_of("per_unit", {"unit_amount": "0.0012"}, quantity) == D(expected)


def test_per_unit_keeps_full_precision_until_the_one_rounding():
    # 3 x 0.001666 = 0.004998 -> 0.00; rounding the unit price first would give 3 x 0.00 or 3 x 0.01.
    assert amount_of("per_unit", {"unit_amount": "0.001666"}, "3") == D("0.00")
    assert amount_of("per_unit", {"unit_amount": "0.000000000001"}, "5000000000") == D("0.01")


def test_per_unit_accepts_integer_prices_and_quantities():
    assert rate(model="per_unit", params={"unit_amount": 3}, currency="USD", quantity=4).amount == D("12.00")


@pytest.mark.parametrize(
    ("quantity", "expected"), [("0", "0.00"), ("0.001", "49.00"), ("1", "49.00"), ("900", "49.00")]
)
def test_flat_is_due_once_any_quantity_is_used(quantity, expected):
    assert amount_of("flat", {"amount": "49.00"}, quantity) == D(expected)


def test_flat_is_not_due_when_included_units_cover_the_usage():
    assert amount_of("flat", {"amount": "49.00"}, "3", included_units=D(3)) == D("0.00")
    assert amount_of("flat", {"amount": "49.00"}, "3.5", included_units=D(3)) == D("49.00")


# --- tiered (graduated) and volume --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", "0.00"),
        ("1", "7.00"),
        ("5", "35.00"),
        ("5.5", "38.25"),
        ("6", "41.50"),
        ("10", "67.50"),
        ("11", "73.50"),
        ("20", "127.50"),
    ],
)
def test_graduated_prices_each_band_at_its_own_unit_amount(quantity, expected):
    assert amount_of("tiered", {"tiers": TIERS}, quantity) == D(expected)


def test_graduated_charges_the_first_flat_amount_even_at_zero():
    tiers = [{"up_to": "100", "unit_amount": "0", "flat_amount": "10.00"}, {"up_to": None, "unit_amount": "0.10"}]
    assert amount_of("tiered", {"tiers": tiers}, "0") == D("10.00")
    assert amount_of("tiered", {"tiers": tiers}, "100") == D("10.00")
    assert amount_of("tiered", {"tiers": tiers}, "101") == D("10.10")


def test_graduated_adds_a_band_flat_amount_only_once_the_band_is_entered():
    tiers = [
        {"up_to": "5", "unit_amount": "1.00", "flat_amount": "2.00"},
        {"up_to": None, "unit_amount": "0.50", "flat_amount": "20.00"},
    ]
    assert amount_of("tiered", {"tiers": tiers}, "5") == D("7.00")
    assert amount_of("tiered", {"tiers": tiers}, "5.01") == D("27.01")


def test_graduated_breakdown_lists_every_entered_band_with_its_units():
    rating = rate(model="tiered", params={"tiers": TIERS}, currency="USD", quantity=D("11"))
    assert rating.amount == D("73.50")
    assert rating.groups == []
    assert rating.breakdown == [
        {"from": "0", "to": "5", "units": "5", "unit_amount": "7.00", "flat_amount": "0", "amount": "35.00"},
        {"from": "5", "to": "10", "units": "5", "unit_amount": "6.50", "flat_amount": "0", "amount": "32.50"},
        {"from": "10", "to": None, "units": "1", "unit_amount": "6.00", "flat_amount": "0", "amount": "6.00"},
    ]


def test_graduated_breakdown_at_zero_shows_the_first_band_only():
    rating = rate(model="tiered", params={"tiers": TIERS}, currency="USD", quantity=D("0"))
    assert rating.breakdown == [
        {"from": "0", "to": "5", "units": "0", "unit_amount": "7.00", "flat_amount": "0", "amount": "0.00"}
    ]


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", "0.00"),
        ("1", "7.00"),
        ("5", "35.00"),
        ("5.5", "35.75"),
        ("6", "39.00"),
        ("10", "65.00"),
        ("11", "66.00"),
        ("20", "120.00"),
    ],
)
def test_volume_prices_all_units_at_the_reached_tier(quantity, expected):
    assert amount_of("volume", {"tiers": TIERS}, quantity) == D(expected)


def test_volume_adds_only_the_reached_band_flat_amount():
    tiers = [
        {"up_to": "10", "unit_amount": "1.00", "flat_amount": "5.00"},
        {"up_to": None, "unit_amount": "0.50", "flat_amount": "8.00"},
    ]
    assert amount_of("volume", {"tiers": tiers}, "10") == D("15.00")
    assert amount_of("volume", {"tiers": tiers}, "12") == D("14.00")
    assert amount_of("volume", {"tiers": tiers}, "0") == D("5.00")  # the first band's flat fee (SPEC §11.1)


def test_volume_at_zero_charges_the_first_bands_flat_amount_as_tiered_does():
    tiers = [
        {"up_to": "100", "unit_amount": "2", "flat_amount": "10"},
        {"up_to": "200", "unit_amount": "1", "flat_amount": "0"},
        {"up_to": None, "unit_amount": "0.5", "flat_amount": "50"},
    ]
    assert amount_of("volume", {"tiers": tiers}, "0") == D("10.00")
    assert amount_of("tiered", {"tiers": tiers}, "0") == D("10.00")
    assert amount_of("volume", {"tiers": tiers}, "1") == D("12.00")
    rating = rate(model="volume", params={"tiers": tiers}, currency="USD", quantity=D("0"))
    assert rating.breakdown == [
        {"from": "0", "to": "100", "units": "0", "unit_amount": "2", "flat_amount": "10", "amount": "10"}
    ]


def test_volume_breakdown_shows_the_reached_band_with_all_units():
    rating = rate(model="volume", params={"tiers": TIERS}, currency="USD", quantity=D("6"))
    assert rating.breakdown == [
        {"from": "5", "to": "10", "units": "6", "unit_amount": "6.50", "flat_amount": "0", "amount": "39.00"}
    ]


# --- package and stairstep ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("0", "0.00"), ("0.01", "10.00"), ("20", "10.00"), ("20.1", "20.00"), ("40", "20.00"), ("98", "50.00")],
)
def test_package_bills_every_started_package(quantity, expected):
    assert amount_of("package", PACKAGE, quantity) == D(expected)


def test_package_of_a_fractional_size_counts_started_packages():
    assert amount_of("package", {"package_size": "0.5", "amount": "1.25"}, "1.2") == D("3.75")


def test_package_breakdown_names_the_packages():
    rating = rate(model="package", params=PACKAGE, currency="USD", quantity=D("20.1"))
    assert rating.breakdown == [
        {
            "from": "0",
            "to": None,
            "units": "20.1",
            "unit_amount": "0",
            "flat_amount": "20.00",
            "amount": "20.00",
            "packages": "2",
            "package_size": "20",
            "package_amount": "10.00",
        }
    ]


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", "0.00"),
        ("0.5", "100.00"),
        ("10", "100.00"),
        ("10.01", "150.00"),
        ("50", "150.00"),
        ("51", "175.00"),
        ("100000", "175.00"),
    ],
)
def test_stairstep_stacks_the_fee_of_every_entered_step(quantity, expected):
    assert amount_of("stairstep", {"steps": STEPS}, quantity) == D(expected)


def test_stairstep_breakdown_lists_entered_steps_and_nothing_at_zero():
    charge = PricedCharge(model="stairstep", params={"steps": STEPS}, currency="USD")
    assert charge.rate(D("0")).breakdown == []
    assert charge.rate(D("12")).breakdown == [
        {"from": "0", "to": "10", "units": "10", "unit_amount": "0", "flat_amount": "100.00", "amount": "100.00"},
        {"from": "10", "to": "50", "units": "2", "unit_amount": "0", "flat_amount": "50.00", "amount": "50.00"},
    ]


# --- percentage ---------------------------------------------------------------------------------------------------


def test_percentage_takes_the_rate_of_the_amount_plus_a_fixed_fee_per_event():
    params = {"rate": "0.029", "fixed_amount": "0.30"}
    rating = rate(model="percentage", params=params, currency="USD", quantity=D("1234.56"), events_count=12)
    assert rating.amount == D("39.40")  # 35.80224 + 3.60
    assert rating.breakdown == [
        {
            "from": "0",
            "to": None,
            "units": "1234.56",
            "unit_amount": "0.029",
            "flat_amount": "3.60",
            "amount": "39.40224",
            "events_count": "12",
            "fixed_amount": "0.30",
        }
    ]


def test_percentage_without_fixed_fee_ignores_the_event_count():
    assert amount_of("percentage", {"rate": "0.015"}, "1000.00", events_count=50) == D("15.00")


def test_percentage_charges_fixed_fees_even_when_the_amount_is_zero():
    assert amount_of("percentage", {"rate": "0.029", "fixed_amount": "0.30"}, "0", events_count=3) == D("0.90")


# --- matrix -------------------------------------------------------------------------------------------------------


def matrix_charge(**options) -> PricedCharge:
    return PricedCharge(model="matrix", params=MATRIX, currency="USD", **options)


def test_matrix_prices_each_group_at_its_row_or_the_default():
    rating = matrix_charge().rate(groups={("eu", "pro"): D("1000"), ("eu", "free"): D("250"), ("us", "pro"): D("10")})
    assert rating.groups == [
        GroupRating(group={"region": "eu", "tier": "free"}, quantity=D("250"), unit_amount=D("0.01"), amount=D("2.50")),
        GroupRating(
            group={"region": "eu", "tier": "pro"}, quantity=D("1000"), unit_amount=D("0.02"), amount=D("20.00")
        ),
        GroupRating(group={"region": "us", "tier": "pro"}, quantity=D("10"), unit_amount=D("0.05"), amount=D("0.50")),
    ]
    assert rating.amount == D("23.00")
    assert rating.quantity == rating.raw_quantity == D("1260")


def test_matrix_takes_included_units_from_the_dearest_groups_first():
    rating = matrix_charge(included_units=D("500")).rate(
        groups={("us", "pro"): D("300"), ("eu", "pro"): D("1000"), ("eu", "free"): D("250.5")}
    )
    assert rating.breakdown == [
        {
            "group": {"region": "eu", "tier": "free"},
            "units": "250.5",
            "included_units": "0",
            "unit_amount": "0.01",
            "amount": "2.51",
        },
        {
            "group": {"region": "eu", "tier": "pro"},
            "units": "800",
            "included_units": "200",
            "unit_amount": "0.02",
            "amount": "16.00",
        },
        {
            "group": {"region": "us", "tier": "pro"},
            "units": "0",
            "included_units": "300",
            "unit_amount": "0.05",
            "amount": "0.00",
        },
    ]
    assert rating.amount == D("18.51")
    assert rating.quantity == D("1050.5")
    assert rating.raw_quantity == D("1550.5")


def test_matrix_breaks_included_unit_ties_by_group_values():
    params = {"dimensions": ["region"], "rows": [], "default_unit_amount": "1.00"}
    charge = PricedCharge(model="matrix", params=params, currency="USD", included_units=D("5"))
    rating = charge.rate(groups={("us",): D("4"), ("eu",): D("4")})
    assert [(group.group["region"], group.quantity) for group in rating.groups] == [("eu", D("0")), ("us", D("3"))]


def test_matrix_rounds_each_group_once_and_sums_the_rounded_groups():
    params = {"dimensions": ["region"], "rows": [], "default_unit_amount": "0.005"}
    charge = PricedCharge(model="matrix", params=params, currency="USD")
    rating = charge.rate(groups={("eu",): D("1"), ("us",): D("1")})
    assert [group.amount for group in rating.groups] == [D("0.01"), D("0.01")]
    assert rating.amount == D("0.02")


def test_matrix_without_a_row_or_default_refuses_the_group_by_name():
    params = {"dimensions": ["region"], "rows": [{"match": {"region": "eu"}, "unit_amount": "0.02"}]}
    charge = PricedCharge(model="matrix", params=params, currency="USD")
    with pytest.raises(RatingError, match="'region': 'apac'"):
        charge.rate(groups={("eu",): D("1"), ("apac",): D("1")})


def test_matrix_with_no_usage_is_zero():
    assert matrix_charge().rate(groups={}).amount == D("0.00")


@pytest.mark.parametrize(
    ("quantity", "groups"),
    [
        (None, None),
        (None, {("eu",): D("1")}),
        (None, {"eu": D("1")}),
        (None, {("eu", 1): D("1")}),
        (None, [(("eu", "pro"), D("1"))]),
        (D("5"), {("eu", "pro"): D("4")}),
        (None, {("eu", "pro"): 1.5}),
    ],
)
def test_matrix_refuses_missing_or_malformed_groups(quantity, groups):
    with pytest.raises(RatingError):
        matrix_charge().rate(quantity, groups=groups)


def test_matrix_accepts_a_quantity_equal_to_the_sum_of_its_groups():
    rating = matrix_charge().rate(D("3"), groups={("eu", "pro"): D("1"), ("eu", "free"): D("2")})
    assert rating.amount == D("0.04")


# --- currencies, allowance, floor and cap -------------------------------------------------------------------------


def test_jpy_rounds_to_whole_yen_half_up():
    assert amount_of("per_unit", {"unit_amount": "33.5"}, "3", currency="JPY") == D("101")
    assert amount_of("per_unit", {"unit_amount": "33.5"}, "3", currency="JPY").as_tuple().exponent == 0


def test_bhd_rounds_to_three_decimals_half_up():
    assert amount_of("per_unit", {"unit_amount": "1.2345"}, "1", currency="BHD") == D("1.235")
    assert str(amount_of("tiered", {"tiers": TIERS}, "6", currency="BHD")) == "41.500"


def test_included_units_come_off_before_pricing():
    rating = rate(model="tiered", params={"tiers": TIERS}, currency="USD", quantity=D("16"), included_units=D("10"))
    assert (rating.raw_quantity, rating.quantity, rating.amount) == (D("16"), D("6"), D("41.50"))


def test_usage_below_the_allowance_or_negative_bills_nothing():
    assert amount_of("per_unit", {"unit_amount": "1"}, "800", included_units=D("1000")) == D("0.00")
    assert amount_of("per_unit", {"unit_amount": "1"}, "-5") == D("0.00")


def test_maximum_amount_caps_the_charge():
    rating = rate(model="per_unit", params={"unit_amount": "0.10"}, currency="USD", quantity=D("5000"),
                  maximum_amount=D("300"))  # fmt: skip
    assert (rating.amount, rating.uncapped_amount, rating.minimum_true_up) == (D("300.00"), D("500.00"), D("0.00"))


def test_minimum_amount_is_trued_up_as_a_separate_amount():
    rating = rate(model="per_unit", params={"unit_amount": "0.10"}, currency="USD", quantity=D("120"),
                  minimum_amount=D("50"))  # fmt: skip
    assert (rating.amount, rating.minimum_true_up) == (D("12.00"), D("38.00"))


def test_minimum_amount_is_trued_up_even_without_usage():
    assert rate(model="flat", params={"amount": "9"}, currency="USD", quantity=D("0"),
                minimum_amount="25.00").minimum_true_up == D("25.00")  # fmt: skip


def test_cap_applies_before_the_minimum_true_up():
    charge = PricedCharge(model="per_unit", params={"unit_amount": "1"}, currency="USD",
                          minimum_amount=D("50"), maximum_amount=D("80"))  # fmt: skip
    assert [(r.amount, r.minimum_true_up) for r in map(charge.rate, (D("10"), D("60"), D("90")))] == [
        (D("10.00"), D("40.00")),
        (D("60.00"), D("0.00")),
        (D("80.00"), D("0.00")),
    ]


def test_cap_applies_to_the_sum_of_matrix_groups():
    rating = matrix_charge(maximum_amount=D("10")).rate(groups={("eu", "pro"): D("1000")})
    assert (rating.amount, rating.uncapped_amount, rating.groups[0].amount) == (D("10.00"), D("20.00"), D("20.00"))


# --- the fast path ------------------------------------------------------------------------------------------------

CHARGES = [
    ("per_unit", {"unit_amount": "0.0012"}, {}),
    ("flat", {"amount": "49.00"}, {}),
    ("tiered", {"tiers": TIERS}, {}),
    ("volume", {"tiers": TIERS}, {}),
    ("package", PACKAGE, {}),
    ("stairstep", {"steps": STEPS}, {}),
    ("percentage", {"rate": "0.029", "fixed_amount": "0.30"}, {"events_count": 7}),
]


@pytest.mark.parametrize(("model", "params", "options"), CHARGES, ids=[charge[0] for charge in CHARGES])
@pytest.mark.parametrize("quantity", ["0", "1", "5", "6", "10.5", "20.1", "98", "12345.678"])
def test_amount_fast_path_agrees_with_rate(model, params, options, quantity):
    charge = PricedCharge(model=model, params=params, currency="USD", included_units=D("1"), maximum_amount=D("500"))
    assert charge.amount(D(quantity), **options) == charge.rate(D(quantity), **options).amount


def test_amount_fast_path_prices_matrix_groups():
    groups = {("eu", "pro"): D("1000"), ("us", "pro"): D("10")}
    assert matrix_charge().amount(groups=groups) == D("20.50")


@pytest.mark.parametrize("quantity", [None, 1.5, "3", D("NaN"), D("Infinity"), True])
def test_rating_refuses_a_quantity_that_is_not_a_finite_decimal(quantity):
    charge = PricedCharge(model="per_unit", params={"unit_amount": "1"}, currency="USD")
    with pytest.raises(RatingError):
        charge.rate(quantity)
    with pytest.raises(RatingError):
        charge.amount(quantity)


def test_rating_refuses_groups_for_a_model_that_is_not_matrix():
    charge = PricedCharge(model="per_unit", params={"unit_amount": "1"}, currency="USD")
    with pytest.raises(RatingError, match="matrix"):
        charge.rate(D("1"), groups={("eu",): D("1")})


def test_an_amount_too_large_to_round_is_a_rating_error():
    charge = PricedCharge(model="per_unit", params={"unit_amount": "999999999999999999"}, currency="USD")
    with pytest.raises(RatingError, match="out of range"):
        charge.rate(D("1e20"))
    with pytest.raises(RatingError, match="out of range"):
        charge.amount(D("1e20"))


def test_rating_refuses_a_negative_event_count():
    charge = PricedCharge(model="percentage", params={"rate": "0.01", "fixed_amount": "0.30"}, currency="USD")
    with pytest.raises(RatingError, match="events_count"):
        charge.rate(D("1"), events_count=-1)


# --- validation ---------------------------------------------------------------------------------------------------


def test_validate_params_normalises_amounts_to_decimals():
    assert validate_params(
        "tiered", {"tiers": [{"up_to": 5, "unit_amount": "7.00"}, {"up_to": None, "flat_amount": 3}]}
    ) == {
        "tiers": [
            {"up_to": D("5"), "unit_amount": D("7.00"), "flat_amount": D("0")},
            {"up_to": None, "unit_amount": D("0"), "flat_amount": D("3")},
        ]
    }
    assert validate_params("percentage", {"rate": "0.029"}) == {"rate": D("0.029"), "fixed_amount": D("0")}
    assert validate_params("per_unit", {"unit_amount": "1E+3"})["unit_amount"].as_tuple().exponent == 0


def test_validated_params_validate_again_unchanged_and_round_trip_through_json():
    for model, params in [("tiered", {"tiers": TIERS}), ("matrix", MATRIX), ("stairstep", {"steps": STEPS})]:
        normalised = validate_params(model, params, group_by=["region", "tier"])
        assert validate_params(model, normalised) == normalised
        assert validate_params(model, params_to_json(normalised)) == normalised
    assert params_to_json(validate_params("tiered", {"tiers": TIERS})) == {"tiers": TIERS}


def test_unit_prices_may_carry_twelve_decimal_places_but_not_thirteen():
    assert validate_params("per_unit", {"unit_amount": "0.000000000001"}) == {"unit_amount": D("0.000000000001")}
    assert validate_params("per_unit", {"unit_amount": "1.50000000000000000"}) == {"unit_amount": D("1.5")}
    with pytest.raises(ChargeParamsError) as raised:
        validate_params("per_unit", {"unit_amount": "0.0000000000001"})
    assert raised.value.errors == {"unit_amount": "has 13 decimal places; at most 12 are allowed"}


def test_a_band_that_does_not_ascend_names_the_previous_up_to():
    tiers = [
        {"up_to": "10", "unit_amount": "1"},
        {"up_to": "10", "unit_amount": "1"},
        {"up_to": None, "unit_amount": "1"},
    ]
    with pytest.raises(ChargeParamsError) as raised:
        validate_params("tiered", {"tiers": tiers})
    assert raised.value.errors == {"tiers[1].up_to": "must be greater than the previous band's up_to (10)"}


def test_validation_reports_every_error_at_once():
    tiers = [{"up_to": "-1", "unit_amount": "x"}, {"up_to": "3", "unit_amount": 1.5}]
    with pytest.raises(ChargeParamsError) as raised:
        validate_params("volume", {"tiers": tiers, "amount": "1"})
    assert set(raised.value.errors) == {"tiers[0].up_to", "tiers[0].unit_amount", "tiers[1].up_to",
                                        "tiers[1].unit_amount", "amount"}  # fmt: skip
    assert "tiers[1].up_to" in str(raised.value)


def band(up_to, **money):
    return {"up_to": up_to, **money}


OPEN = band(None, unit_amount="1")
VALIDATION_ERRORS = [
    ("bogus", {}, "model"),
    (None, {}, "model"),
    ("per_unit", ["unit_amount"], "params"),
    ("per_unit", {}, "unit_amount"),
    ("per_unit", {"unit_amount": None}, "unit_amount"),
    ("per_unit", {"unit_amount": "-0.01"}, "unit_amount"),
    ("per_unit", {"unit_amount": 0.5}, "unit_amount"),
    ("per_unit", {"unit_amount": True}, "unit_amount"),
    ("per_unit", {"unit_amount": "abc"}, "unit_amount"),
    ("per_unit", {"unit_amount": "NaN"}, "unit_amount"),
    ("per_unit", {"unit_amount": D("Infinity")}, "unit_amount"),
    ("per_unit", {"unit_amount": "1e18"}, "unit_amount"),
    ("per_unit", {"unit_amount": "1", "tiers": []}, "tiers"),
    ("flat", {}, "amount"),
    ("flat", {"amount": "-49"}, "amount"),
    ("tiered", {}, "tiers"),
    ("tiered", {"tiers": "5:7.00"}, "tiers"),
    ("tiered", {"tiers": []}, "tiers"),
    ("tiered", {"tiers": ["5", OPEN]}, "tiers[0]"),
    ("tiered", {"tiers": [band("0", unit_amount="1"), OPEN]}, "tiers[0].up_to"),
    ("tiered", {"tiers": [band("-5", unit_amount="1"), OPEN]}, "tiers[0].up_to"),
    ("tiered", {"tiers": [{"unit_amount": "1"}, OPEN]}, "tiers[0].up_to"),
    ("tiered", {"tiers": [band("10", unit_amount="1"), band("5", unit_amount="1"), OPEN]}, "tiers[1].up_to"),
    ("tiered", {"tiers": [OPEN, OPEN]}, "tiers[0].up_to"),
    ("tiered", {"tiers": [band("10", unit_amount="1")]}, "tiers[0].up_to"),
    ("tiered", {"tiers": [band("10", unit_amount="1"), band("20", unit_amount="1")]}, "tiers[1].up_to"),
    ("tiered", {"tiers": [band("10"), OPEN]}, "tiers[0].unit_amount"),
    ("tiered", {"tiers": [band("10", unit_amount="-1"), OPEN]}, "tiers[0].unit_amount"),
    ("tiered", {"tiers": [band("10", unit_amount="1", flat_amount="-1"), OPEN]}, "tiers[0].flat_amount"),
    ("tiered", {"tiers": [band("10", unit_amount="1", price="1"), OPEN]}, "tiers[0].price"),
    ("volume", {"tiers": [band("10", unit_amount="1"), band("10", unit_amount="1"), OPEN]}, "tiers[1].up_to"),
    ("volume", {"tiers": [band(None, unit_amount="0.0000000000001")]}, "tiers[0].unit_amount"),
    ("package", {"amount": "10"}, "package_size"),
    ("package", {"package_size": "0", "amount": "10"}, "package_size"),
    ("package", {"package_size": "-20", "amount": "10"}, "package_size"),
    ("package", {"package_size": "20"}, "amount"),
    ("package", {"package_size": "20", "amount": "-10"}, "amount"),
    ("stairstep", {}, "steps"),
    ("stairstep", {"steps": [band(None)]}, "steps[0].amount"),
    ("stairstep", {"steps": [band("10", amount="-1"), band(None, amount="1")]}, "steps[0].amount"),
    ("stairstep", {"steps": [band("10", amount="1"), band("9", amount="1"), band(None, amount="1")]}, "steps[1].up_to"),
    ("stairstep", {"steps": [band("10", amount="1", unit_amount="1"), band(None, amount="1")]}, "steps[0].unit_amount"),
    ("percentage", {}, "rate"),
    ("percentage", {"rate": "-0.01"}, "rate"),
    ("percentage", {"rate": "0.0000000000001"}, "rate"),
    ("percentage", {"rate": "0.01", "fixed_amount": "-0.30"}, "fixed_amount"),
    ("percentage", {"rate": "0.01", "fixed_amount": "thirty"}, "fixed_amount"),
    ("matrix", {"rows": [], "default_unit_amount": "1"}, "dimensions"),
    ("matrix", {"dimensions": [], "default_unit_amount": "1"}, "dimensions"),
    ("matrix", {"dimensions": "region", "default_unit_amount": "1"}, "dimensions"),
    ("matrix", {"dimensions": [7], "default_unit_amount": "1"}, "dimensions[0]"),
    ("matrix", {"dimensions": [""], "default_unit_amount": "1"}, "dimensions[0]"),
    ("matrix", {"dimensions": ["region", "region"], "default_unit_amount": "1"}, "dimensions[1]"),
    ("matrix", {"dimensions": ["region"]}, "rows"),
    ("matrix", {"dimensions": ["region"], "rows": {"eu": "1"}, "default_unit_amount": "1"}, "rows"),
    ("matrix", {"dimensions": ["region"], "default_unit_amount": "-1"}, "default_unit_amount"),
    ("matrix", {"dimensions": ["region"], "rows": ["eu"]}, "rows[0]"),
    ("matrix", {"dimensions": ["region"], "rows": [{"unit_amount": "1"}]}, "rows[0].match"),
    ("matrix", {"dimensions": ["region"], "rows": [{"match": "eu", "unit_amount": "1"}]}, "rows[0].match"),
    ("matrix", {"dimensions": ["region"], "rows": [{"match": {"zone": "eu"}, "unit_amount": "1"}]}, "rows[0].match"),
    ("matrix", {"dimensions": ["region", "tier"], "rows": [{"match": {"region": "eu"}, "unit_amount": "1"}]},
     "rows[0].match"),
    ("matrix", {"dimensions": ["region"], "rows": [{"match": {"region": 1}, "unit_amount": "1"}]},
     "rows[0].match.region"),
    ("matrix", {"dimensions": ["region"], "rows": [{"match": {"region": "eu"}}]}, "rows[0].unit_amount"),
    ("matrix", {"dimensions": ["region"], "rows": [{"match": {"region": "eu"}, "unit_amount": "-1"}]},
     "rows[0].unit_amount"),
    ("matrix", {"dimensions": ["region"], "rows": [{"match": {"region": "eu"}, "unit_amount": "1", "x": 1}]},
     "rows[0].x"),
    ("matrix", {"dimensions": ["region"], "rows": [{"match": {"region": "eu"}, "unit_amount": "1"},
                                                    {"match": {"region": "eu"}, "unit_amount": "2"}]}, "rows[1].match"),
]  # fmt: skip


@pytest.mark.parametrize(("model", "params", "key"), VALIDATION_ERRORS)
def test_invalid_params_are_refused_naming_the_field(model, params, key):
    with pytest.raises(ChargeParamsError) as raised:
        validate_params(model, params)
    assert list(raised.value.errors) == [key]
    assert raised.value.errors[key].strip()


def test_matrix_dimensions_must_be_grouped_by_the_metric():
    params = {"dimensions": ["region", "plan"], "rows": [], "default_unit_amount": "1"}
    assert validate_params("matrix", params, group_by=["region", "plan", "zone"])["dimensions"] == ["region", "plan"]
    with pytest.raises(ChargeParamsError) as raised:
        validate_params("matrix", params, group_by=["region"])
    assert raised.value.errors == {"dimensions[1]": "'plan' is not one of the metric's group_by properties (region)"}


def test_a_matrix_row_mismatch_lists_missing_and_unexpected_keys():
    params = {"dimensions": ["region", "tier"], "rows": [{"match": {"region": "eu", "zone": "a"}, "unit_amount": "1"}]}
    with pytest.raises(ChargeParamsError) as raised:
        validate_params("matrix", params)
    assert raised.value.errors == {
        "rows[0].match": "keys must be exactly the dimensions (region, tier); missing: tier; unexpected: zone"
    }


CHARGE_ERRORS = [
    ({"currency": "XXY"}, "currency"),
    ({"included_units": D("-1")}, "included_units"),
    ({"included_units": 0.5}, "included_units"),
    ({"minimum_amount": D("-1")}, "minimum_amount"),
    ({"maximum_amount": "-1"}, "maximum_amount"),
    ({"maximum_amount": "10.001"}, "maximum_amount"),
    ({"currency": "JPY", "minimum_amount": "10.5"}, "minimum_amount"),
    ({"minimum_amount": D("100"), "maximum_amount": D("50")}, "minimum_amount"),
]


@pytest.mark.parametrize(("options", "key"), CHARGE_ERRORS)
def test_invalid_charge_limits_are_refused_naming_the_field(options, key):
    options = {"currency": "USD", **options}
    with pytest.raises(ChargeParamsError) as raised:
        PricedCharge(model="per_unit", params={"unit_amount": "1"}, **options)
    assert list(raised.value.errors) == [key]
    assert raised.value.errors[key].strip()


def test_validate_charge_reports_params_and_limits_together():
    with pytest.raises(ChargeParamsError) as raised:
        validate_charge(model="per_unit", params={}, currency="USD", minimum_amount="9", maximum_amount="5")
    assert raised.value.errors == {
        "unit_amount": "is required",
        "minimum_amount": "must not be greater than maximum_amount (5.00)",
    }


def test_validate_charge_rounds_the_floor_and_cap_to_the_currency():
    charge = validate_charge(model="flat", params={"amount": "5"}, currency="BHD", minimum_amount="5", maximum_amount=7)
    assert (str(charge["minimum_amount"]), str(charge["maximum_amount"])) == ("5.000", "7.000")


# --- properties ---------------------------------------------------------------------------------------------------

prices = st.decimals(min_value=0, max_value=1000, places=4)
quantities = st.decimals(min_value=0, max_value=100_000, places=3)
CURRENCIES = ["USD", "JPY", "BHD", "CLF"]


@st.composite
def bands(draw, money):
    """1-5 bands with ascending up_to edges and non-negative prices, the last one open-ended."""
    edges = draw(st.lists(st.decimals(min_value="0.5", max_value=5000, places=2), max_size=4, unique=True))
    ups = [format(edge, "f") for edge in sorted(edges)] + [None]
    return [{"up_to": up, **{name: format(draw(prices), "f") for name in money}} for up in ups]


def graduated_reference(tiers, q) -> Fraction:
    """Straight from SPEC §3, in exact fractions: each band's units at its price, plus every entered band's flat."""
    total, low = Fraction(tiers[0]["flat_amount"]), Fraction(0)
    q = Fraction(q)
    for index, tier in enumerate(tiers):
        high = math.inf if tier["up_to"] is None else Fraction(tier["up_to"])
        if index and q <= low:
            break
        if index:
            total += Fraction(tier["flat_amount"])
        total += (min(q, high) - low) * Fraction(tier["unit_amount"])
        low = high
    return total


def rounded(value: Fraction, currency="USD") -> Decimal:
    places = minor_units(currency)
    scaled = value * 10**places
    return Decimal(math.floor(scaled + Fraction(1, 2))).scaleb(-places)


@given(tiers=bands(("unit_amount", "flat_amount")), q=quantities)
def test_graduated_matches_a_band_by_band_reference(tiers, q):
    assert amount_of("tiered", {"tiers": tiers}, q) == rounded(graduated_reference(tiers, q))


@given(tiers=bands(("unit_amount", "flat_amount")), a=quantities, b=quantities)
def test_graduated_never_decreases_as_quantity_grows(tiers, a, b):
    charge = PricedCharge(model="tiered", params={"tiers": tiers}, currency="USD")
    low, high = sorted((a, b))
    assert charge.amount(low) <= charge.amount(high)


@given(steps=bands(("amount",)), a=quantities, b=quantities)
def test_stairstep_never_decreases_as_quantity_grows(steps, a, b):
    charge = PricedCharge(model="stairstep", params={"steps": steps}, currency="USD")
    low, high = sorted((a, b))
    assert charge.amount(low) <= charge.amount(high)


@given(price=prices, q=quantities, currency=st.sampled_from(CURRENCIES))
def test_volume_with_one_band_equals_per_unit(price, q, currency):
    volume = {"tiers": [{"up_to": None, "unit_amount": price}]}
    assert amount_of("volume", volume, q, currency) == amount_of("per_unit", {"unit_amount": price}, q, currency)


@given(size=st.decimals(min_value="0.001", max_value=1000, places=3), price=prices, q=quantities)
def test_package_equals_started_packages_times_the_package_amount(size, price, q):
    expected = rounded(math.ceil(Fraction(q) / Fraction(size)) * Fraction(price))
    assert amount_of("package", {"package_size": size, "amount": price}, q) == expected


@settings(max_examples=200)
@given(
    index=st.integers(min_value=0, max_value=len(CHARGES) - 1),
    q=st.decimals(min_value=-10, max_value=100_000, places=6),
    currency=st.sampled_from(CURRENCIES),
    events=st.integers(min_value=0, max_value=10_000),
)
def test_no_amount_has_more_decimals_than_the_currency_allows(index, q, currency, events):
    model, params, _ = CHARGES[index]
    charge = PricedCharge(model=model, params=params, currency=currency, minimum_amount=D("100"))
    rating = charge.rate(q, events_count=events)
    places = -minor_units(currency)
    assert rating.amount.as_tuple().exponent == places
    assert rating.minimum_true_up.as_tuple().exponent == places
    assert charge.amount(q, events_count=events) == rating.amount


@given(
    groups=st.dictionaries(st.tuples(st.sampled_from(["eu", "us", "apac"]), st.sampled_from(["pro", "free"])),
                           quantities, max_size=6),
    included=quantities,
    currency=st.sampled_from(CURRENCIES),
)  # fmt: skip
def test_matrix_amount_is_the_sum_of_rounded_groups_and_the_allowance_is_used_up_in_full(groups, included, currency):
    charge = PricedCharge(model="matrix", params=MATRIX, currency=currency, included_units=included)
    rating = charge.rate(groups=groups)
    assert rating.amount == sum((group.amount for group in rating.groups), D(0))
    assert rating.amount.as_tuple().exponent == -minor_units(currency)
    assert rating.quantity == max(D(0), sum(groups.values(), D(0)) - included)
    assert all(group.amount.as_tuple().exponent == -minor_units(currency) for group in rating.groups)


def test_every_model_is_covered_by_these_tests():
    assert {charge[0] for charge in CHARGES} | {"matrix"} == set(MODELS)
