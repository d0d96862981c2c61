"""Data for the tenant-isolation walk: at least one record behind every API route.

Each app's tests contribute ``tests/<app>/tenancy.py`` with ``populate(merchant, ctx)``;
they run in dependency order and share ``ctx`` (a dict of created records). When a
new API route cannot be exercised because no record exists for it, the walk fails
and names the route: add the record in that app's ``tenancy.py``.
"""

from importlib import import_module
from importlib.util import find_spec

from atlas.models import Merchant

CONTRIBUTORS = ["tests.catalog.tenancy", "tests.customers.tenancy", "tests.metering.tenancy", "tests.billing.tenancy"]


def populate(merchant: Merchant) -> dict:
    ctx: dict = {}
    for name in CONTRIBUTORS:
        if find_spec(name) is not None:
            import_module(name).populate(merchant, ctx)
    return ctx
