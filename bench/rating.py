"""Rating throughput: PricedCharge.rate() and .amount() over seeded quantities, spread across all 8 models.

    .venv/bin/python bench/rating.py [--n 1000000] [--seed 2024]

Prints ratings per second per model and overall, for the full rating (with breakdown) and for the
fast path, and how many times slower each is than a plain ``q * unit_amount`` Decimal loop over the
same quantities, measured in the same run. Pure Python: no Django setup, no database.
"""

import argparse
import gc
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalog.rating import MODELS, PricedCharge  # noqa: E402

D = Decimal

# Realistic charges, one per model, and how a period's quantity for each is drawn.
CHARGES = {
    "per_unit": dict(params={"unit_amount": "0.0012"}, included_units=D(1000)),
    "flat": dict(params={"amount": "49.00"}),
    "tiered": dict(
        params={
            "tiers": [
                {"up_to": "10000", "unit_amount": "0.01", "flat_amount": "0"},
                {"up_to": "100000", "unit_amount": "0.008", "flat_amount": "0"},
                {"up_to": "1000000", "unit_amount": "0.006", "flat_amount": "0"},
                {"up_to": None, "unit_amount": "0.005", "flat_amount": "0"},
            ]
        },
        included_units=D(1000),
        maximum_amount=D("5000"),
    ),
    "volume": dict(
        params={
            "tiers": [
                {"up_to": "10", "unit_amount": "7.00"},
                {"up_to": "100", "unit_amount": "6.50"},
                {"up_to": None, "unit_amount": "6.00", "flat_amount": "25.00"},
            ]
        }
    ),
    "package": dict(params={"package_size": "10", "amount": "5.00"}),
    "stairstep": dict(
        params={
            "steps": [
                {"up_to": "10", "amount": "99.00"},
                {"up_to": "50", "amount": "200.00"},
                {"up_to": "100", "amount": "300.00"},
                {"up_to": None, "amount": "500.00"},
            ]
        },
        minimum_amount=D("99.00"),
    ),
    "matrix": dict(
        params={
            "dimensions": ["region", "tier"],
            "rows": [
                {"match": {"region": "eu", "tier": "pro"}, "unit_amount": "0.02"},
                {"match": {"region": "eu", "tier": "free"}, "unit_amount": "0.01"},
                {"match": {"region": "us", "tier": "pro"}, "unit_amount": "0.025"},
                {"match": {"region": "us", "tier": "free"}, "unit_amount": "0.012"},
            ],
            "default_unit_amount": "0.05",
        },
        included_units=D(100),
    ),
    "percentage": dict(params={"rate": "0.029", "fixed_amount": "0.30"}),
}
BASELINE_UNIT_AMOUNT = D("0.0012")
GROUP_KEYS = [(region, tier) for region in ("eu", "us", "apac") for tier in ("pro", "free")]


def draw_usage(model: str, rng: random.Random):
    """One period's usage: (quantity, groups, events_count)."""
    if model == "per_unit":
        return D(rng.randrange(0, 200_000)), None, 0
    if model == "flat":
        return D(rng.randrange(0, 4)), None, 0
    if model == "tiered":
        return D(rng.randrange(0, 2_000_000)), None, 0
    if model == "volume":
        return D(rng.randrange(0, 500)), None, 0
    if model == "package":
        return D(rng.randrange(0, 2_000_000)).scaleb(-3), None, 0  # GB with 3 decimals
    if model == "stairstep":
        return D(rng.randrange(0, 200)), None, 0
    if model == "matrix":
        groups = {key: D(rng.randrange(0, 50_000)) for key in rng.sample(GROUP_KEYS, 3)}
        return sum(groups.values(), D(0)), groups, 0
    if model == "percentage":
        return D(rng.randrange(0, 10_000_000)).scaleb(-2), None, rng.randrange(0, 500)  # money, 2 decimals
    raise ValueError(model)


def timed(loop, *args) -> float:
    start = time.perf_counter()
    loop(*args)
    return time.perf_counter() - start


def loop_rate(charge, usages):
    rate = charge.rate
    if charge.model == "matrix":
        for _, groups, _ in usages:
            rate(groups=groups)
    elif charge.model == "percentage":
        for quantity, _, events in usages:
            rate(quantity, events_count=events)
    else:
        for quantity, _, _ in usages:
            rate(quantity)


def loop_amount(charge, usages):
    amount = charge.amount
    if charge.model == "matrix":
        for _, groups, _ in usages:
            amount(groups=groups)
    elif charge.model == "percentage":
        for quantity, _, events in usages:
            amount(quantity, events_count=events)
    else:
        for quantity, _, _ in usages:
            amount(quantity)


def loop_baseline(usages):
    unit_amount = BASELINE_UNIT_AMOUNT
    for quantity, _, _ in usages:
        quantity * unit_amount  # noqa: B018 - the multiplication is what is measured


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="ratings in total, spread evenly over the models")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    per_model = max(1, args.n // len(MODELS))
    charges = {model: PricedCharge(model=model, currency="USD", **CHARGES[model]) for model in MODELS}
    usages = {model: [draw_usage(model, rng) for _ in range(per_model)] for model in MODELS}
    # The prepared quantities are not what is measured: keep the collector from rescanning them.
    gc.collect()
    gc.freeze()

    python = sys.version.split()[0]
    print(f"{per_model * len(MODELS):,} ratings ({per_model:,} per model), seed {args.seed}, Python {python}")
    header = f"{'model':<11} {'rate()/s':>12} {'amount()/s':>12} {'q*price/s':>12} {'rate() ×':>9} {'amount() ×':>10}"
    print(header)
    print("-" * len(header))
    totals = {"rate": 0.0, "amount": 0.0, "baseline": 0.0}
    for model in MODELS:
        seconds = {
            "baseline": timed(loop_baseline, usages[model]),
            "rate": timed(loop_rate, charges[model], usages[model]),
            "amount": timed(loop_amount, charges[model], usages[model]),
        }
        for key, value in seconds.items():
            totals[key] += value
        print(row(model, per_model, seconds))
    print("-" * len(header))
    print(row("overall", per_model * len(MODELS), totals))
    print("× = times slower than the plain q * unit_amount loop over the same quantities")


def row(label: str, count: int, seconds: dict[str, float]) -> str:
    rate, amount, baseline = (count / seconds[key] for key in ("rate", "amount", "baseline"))
    return (
        f"{label:<11} {rate:>12,.0f} {amount:>12,.0f} {baseline:>12,.0f} "
        f"{seconds['rate'] / seconds['baseline']:>8.1f}× {seconds['amount'] / seconds['baseline']:>9.1f}×"
    )


if __name__ == "__main__":
    main()
