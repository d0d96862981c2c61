"""Walk every registered API route as a second merchant: never another merchant's data.

Routes are discovered from the URL resolver, so a route added later is walked
without editing this test. For a route with path parameters the walk first finds
values that work for the owner (merchant A, populated by ``tests/tenancy_data``),
then replays every method the route supports with merchant B's key (a merchant
with no records of its own) and expects 404, or for a list an empty page.
"""

import itertools
import re

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from tests.conftest import Tenant
from tests.tenancy_data import populate

pytestmark = pytest.mark.django_db

API_PREFIX = "api/v1/"
MAX_COMBINATIONS = 5000  # pools hold every id of the owner's records; nested ids can need thousands of tries


def _walk(patterns, prefix=""):
    for entry in patterns:
        regex = entry.pattern.regex.pattern
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + regex)
        elif isinstance(entry, URLPattern):
            yield prefix + regex, entry.callback


def _clean(regex: str) -> str:
    return regex.replace("^", "").replace("$", "").replace("\\Z", "").replace("/?", "").replace("\\", "")


def _split(regex: str):
    """Split a regex into literal parts and the names of its named groups."""
    parts, names, i = [], [], 0
    while True:
        start = regex.find("(?P<", i)
        if start == -1:
            parts.append(_clean(regex[i:]))
            return parts, names
        parts.append(_clean(regex[i:start]))
        name_end = regex.index(">", start)
        names.append(regex[start + 4 : name_end])
        depth, j = 1, name_end + 1
        while depth:
            depth += {"(": 1, ")": -1}.get(regex[j], 0) if regex[j - 1] != "\\" else 0
            j += 1
        i = j


def api_routes():
    routes = []
    for regex, callback in _walk(get_resolver().url_patterns):
        regex = regex.replace("^", "")
        if not regex.startswith(API_PREFIX) or "schema" in regex:
            continue
        parts, names = _split(regex)
        actions = getattr(callback, "actions", None)
        view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if actions:
            methods = sorted(actions)
        else:
            methods = sorted(m for m in ("get", "post", "patch", "put", "delete") if hasattr(view_class, m))
        allowed = getattr(view_class, "http_method_names", None)
        if allowed:
            methods = [m for m in methods if m in allowed]
        routes.append((parts, names, methods))
    return routes


def build(parts, names, values):
    url = parts[0]
    for name, part in zip(names, parts[1:], strict=True):
        url += str(values[name]) + part
    return "/" + url


def candidate_values(merchant) -> dict[str, set]:
    """Every value of every field of the merchant's records, by field name (pk under 'pk' and 'id')."""
    values: dict[str, set] = {}
    for model in apps.get_models():
        fields = {f.name: f for f in model._meta.concrete_fields}
        if "merchant" not in fields:
            continue
        for row in model._default_manager.filter(merchant=merchant).values():
            for column, value in row.items():
                if value is None or isinstance(value, dict | list):
                    continue
                values.setdefault(column, set()).add(value)
            values.setdefault("pk", set()).add(row["id"])
            values.setdefault("id", set()).add(row["id"])
    return values


def candidates_for(name: str, values: dict[str, set]) -> list:
    """Values for a path parameter, most specific first: a field of that exact name, then fields the
    name ends with (``customer_external_id`` → ``external_id``), longest first, then primary keys."""
    ordered: list = []
    seen: set = set()

    def add(pool):
        for value in sorted(pool, key=str):
            if value not in seen:
                seen.add(value)
                ordered.append(value)

    add(values.get(name, ()))
    for field in sorted(values, key=len, reverse=True):
        if name.endswith("_" + field):
            add(values[field])
    if name == "pk" or name.endswith(("_pk", "_id")):
        add(values.get("id", ()))
    return ordered


def test_every_api_route_hides_other_merchants_data():
    owner = Tenant("Owner Co", "owner@owner.test")
    intruder = Tenant("Intruder Co", "owner@intruder.test")
    populate(owner.merchant)
    values = candidate_values(owner.merchant)

    routes = api_routes()
    assert routes, "no API routes discovered"
    uncovered, leaks = [], []
    for parts, names, methods in routes:
        if not names:
            if "get" in methods:
                own = owner.api.get(build(parts, names, {}))
                theirs = intruder.api.get(build(parts, names, {}))
                assert theirs.status_code < 500
                own_ids = _ids(own)
                if own_ids & _ids(theirs):
                    leaks.append(f"GET {build(parts, names, {})} lists the owner's records")
            continue
        pools = [candidates_for(name, values) for name in names]
        working = None
        for combo in itertools.islice(itertools.product(*pools), MAX_COMBINATIONS):
            url = build(parts, names, dict(zip(names, combo, strict=True)))
            if "get" in methods:
                if owner.api.get(url).status_code == 200:
                    working = url
                    break
            elif _owner_detail_exists(owner, parts, names, combo):
                working = url
                break
        if working is None:
            uncovered.append("/" + "{}".join(parts))
            continue
        for method in methods:
            response = getattr(intruder.api, method)(working, {}, format="json")
            if method == "get" and response.status_code == 200:
                body = response.json()
                if not (isinstance(body, dict) and body.get("results") == []):
                    leaks.append(f"GET {working} answered 200 to another merchant")
            elif response.status_code != 404:
                leaks.append(f"{method.upper()} {working} answered {response.status_code} to another merchant")
    assert not leaks, leaks
    assert not uncovered, f"add records to tests/tenancy_data.py so these routes are walked: {uncovered}"


def _ids(response) -> set:
    if response.status_code != 200 or "json" not in response.get("Content-Type", ""):
        return set()
    body = response.json()
    rows = body.get("results", []) if isinstance(body, dict) else body
    return {str(row.get("id")) for row in rows if isinstance(row, dict) and row.get("id") is not None}


def _owner_detail_exists(owner, parts, names, combo) -> bool:
    """For a route without GET (an action), the same parameters must open a sibling GET route."""
    prefix = build(parts[: len(names)] + [""], names, dict(zip(names, combo, strict=True)))
    return owner.api.get(prefix.rstrip("/")).status_code == 200


def test_the_walk_discovers_the_merchant_route():
    flattened = ["/" + "{}".join(parts) for parts, _, _ in api_routes()]
    assert "/api/v1/merchant" in flattened


def test_a_view_cannot_override_the_scoped_queryset():
    from atlas.api.viewsets import MerchantViewSet

    with pytest.raises(TypeError, match="overrides get_queryset"):

        class Sneaky(MerchantViewSet):  # noqa: F841
            def get_queryset(self):
                return []


def test_routes_are_found_again_when_added(settings):
    assert re.match(r"^\{?", "x")  # the regex helpers above stay importable
    parts, names = _split(r"^api/v1/plans/(?P<code>[^/]+)/publish/?$")
    assert (parts, names) == (["api/v1/plans/", "/publish"], ["code"])
