"""Arbitrary input at the endpoints that take it from the outside world: a 2xx, or a 4xx that changes nothing.

Bodies are arbitrary JSON values, event- and customer-shaped objects whose fields hold
arbitrary values, and arbitrary bytes: NUL characters, lone surrogates (escaped in JSON as
``\\ud800``), invalid UTF-8, numbers no float holds (``1e400``, 400-digit integers), deep
nesting. The CSV import gets CSV files built from such cells, and arbitrary bytes.

Every answer must be a 2xx, or a 4xx in the one error shape after which every row of the
merchant (and the row count of every other table) is what it was. Requests go through
``atlas.wsgi.application``, the handler production runs (the ingestion fast path
included). Each example runs in a savepoint rolled back afterwards, so examples do not
depend on each other. Deterministic: ``derandomize`` and a fixed number of examples.
"""

import json
from io import BytesIO

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from atlas.api.schema import ERROR_SCHEMA
from atlas.wsgi import application
from tests.hostile.seed import diff, seeded_tenant, snapshot

pytestmark = pytest.mark.django_db

EXAMPLES = 50
HOSTILE = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: report the failing input as sent
    suppress_health_check=list(HealthCheck),
)


ERROR_KEYS = set(ERROR_SCHEMA["properties"]["error"]["properties"])


class Raw(str):
    """JSON text written as is: numbers ``json.dumps`` cannot produce (``1e400``, ``NaN``, 400 digits)."""


def to_json(value, ascii: bool = True) -> str:
    """JSON text; with ``ascii`` every non-ASCII character is escaped (a lone surrogate as ``"\\ud800"``),
    without it characters are written as they are (a lone surrogate then becomes invalid UTF-8)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        items = (f"{json.dumps(key, ensure_ascii=ascii)}:{to_json(item, ascii)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(item, ascii) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii)


HOSTILE_TEXT = st.sampled_from(
    ["", " ", "\x00", "a\x00b", "\ud800", "\udfff", "x\udc80y", "\ufeff", "\u202e", "../../etc", "%00",
     "😀" * 100, "a" * 300, "a" * 70_000, "1e400", "-0", "NaN", "2024-02-30T00:00:00Z", "9999-12-31T23:59:59Z",
     "0001-01-01T00:00:00Z", "2024-01-01T00:00:00+25:00", "null", "true", "[]", "{}"]
)  # fmt: skip
TEXT = st.one_of(HOSTILE_TEXT, st.text(st.characters(codec=None, exclude_categories=[]), max_size=40))
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([Raw("1e400"), Raw("-1e400"), Raw("1e-400"), Raw("NaN"), Raw("Infinity"), Raw("-0.0"),
                     Raw("1" * 5000), Raw("0.000000000000000000000000001")]),
)  # fmt: skip
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=12,
)
DEEP = st.integers(min_value=50, max_value=100_000).flatmap(
    lambda depth: st.sampled_from(["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth])
)
RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    DEEP.map(str.encode),
    st.sampled_from([b"", b"{", b'{"code": "\xff\xfe"}', b'{"a": "\xed\xa0\x80"}', b"\x00", b"\xef\xbb\xbf{}",
                     b'{"transaction_id": "t"} trailing', b'{"a": 1, "a": 2}', b"[]" * 1000]),
)  # fmt: skip


def objects_like(fields: dict) -> st.SearchStrategy:
    """Objects with some of ``fields``, each holding its plausible value or an arbitrary one, plus stray keys."""
    optional = {name: st.one_of(plausible, JSON_VALUES) for name, plausible in fields.items()}
    return st.tuples(
        st.fixed_dictionaries({}, optional=optional), st.dictionaries(TEXT, JSON_VALUES, max_size=2)
    ).map(lambda parts: {**parts[0], **parts[1]})


def json_bodies(shaped: st.SearchStrategy) -> st.SearchStrategy:
    """Bodies (bytes): shaped objects and arbitrary values written as JSON, escaped or not (a lone surrogate
    written unescaped is invalid UTF-8), and raw bytes."""
    values = st.one_of(shaped, JSON_VALUES)
    return st.one_of(
        values.map(lambda value: to_json(value).encode()),
        values.map(lambda value: to_json(value, ascii=False).encode("utf-8", "surrogatepass")),
        RAW_BODIES,
    )


def event_shaped(customer: str) -> st.SearchStrategy:
    return objects_like({
        "transaction_id": st.one_of(st.just("tx-hostile"), TEXT),
        "customer": st.just(customer),
        "code": st.one_of(st.just("api_call"), TEXT),
        "timestamp": st.one_of(st.just("2024-01-01T00:00:00Z"), TEXT),
        "properties": st.one_of(st.just({"region": "eu"}), st.dictionaries(TEXT, JSON_VALUES, max_size=3)),
        "subscription": TEXT,
    })  # fmt: skip


CUSTOMER_SHAPED = objects_like({
    "external_id": st.one_of(st.just("cus_hostile"), TEXT),
    "name": st.one_of(st.just("Hostile Inc."), TEXT),
    "email": st.one_of(st.just("billing@hostile.test"), TEXT),
    "currency": st.one_of(st.just("EUR"), TEXT),
    "country": st.one_of(st.just("FR"), TEXT),
    "tax_rate": st.one_of(st.just("0.20"), TEXT, NUMBERS),
    "billing_starts_on": st.one_of(st.just("2024-01-01"), TEXT),
    "billing_ends_on": TEXT,
    "is_test": st.one_of(st.booleans(), TEXT),
    "metadata": st.dictionaries(TEXT, JSON_VALUES, max_size=3),
    "parent": TEXT,
    "address_line1": TEXT,
    "city": TEXT,
})  # fmt: skip


def known_bad(customer: str) -> list[bytes]:
    """Events that are valid but for one hostile value, always sent first (hypothesis's explicit examples)."""
    base = {"transaction_id": "tx-known", "customer": customer, "code": "api_call", "properties": {"region": "eu"}}
    cases = [{"transaction_id": "tx\x00"}, {"code": "api\x00call"}, {"properties": {"region": "e\x00u"}},
             {"properties": {"region": "\ud800"}}, {"properties": {"k\x00": 1}}, {"properties": {"n": Raw("1e400")}},
             {"subscription": "\x00"}]  # fmt: skip
    return [to_json({**base, **case}).encode() for case in cases]


class Hostile:
    """The seeded merchant, and requests through the WSGI handler with its API key."""

    def __init__(self, server_errors):
        self.tenant, self.ctx = seeded_tenant()
        self.client = Client(application)
        self.server_errors = server_errors
        self.headers = {"Authorization": f"Bearer {self.tenant.key}"}

    def send(self, method: str, path: str, sent: bytes, **request) -> None:
        """One request, in a savepoint rolled back afterwards: a 2xx, or a 4xx in the error shape with the
        merchant's data unchanged."""
        self.server_errors.clear()
        with transaction.atomic():
            before = snapshot(self.tenant.merchant)
            response = self.client.open(path, method=method, headers=self.headers, **request)
            after = snapshot(self.tenant.merchant) if 400 <= response.status_code < 500 else before
            transaction.set_rollback(True)
        shown = f"{method} {path} {sent[:300]!r} → {response.status_code} {response.get_data()[:300]!r}"
        assert response.status_code < 500, shown + "\n" + "".join(self.server_errors[-1:])
        assert response.status_code < 300 or response.status_code >= 400, shown
        if response.status_code >= 400:
            body = json.loads(response.get_data())
            assert set(body) == {"error"}, shown
            assert {"type", "message", "fields"} <= set(body["error"]) <= ERROR_KEYS, shown
            assert isinstance(body["error"]["message"], str) and isinstance(body["error"]["fields"], dict), shown
            changed = diff(before, after)
            assert not changed, f"{shown}\nchanged: {changed}"


@pytest.fixture
def hostile(server_errors) -> Hostile:
    return Hostile(server_errors)


def test_post_events_answers_arbitrary_bodies_with_2xx_or_a_clean_4xx(hostile):
    customer = hostile.ctx["customer"].external_id

    @HOSTILE
    @given(body=json_bodies(event_shaped(customer)))
    def run(body):
        hostile.send("POST", "/api/v1/events", body, data=body, content_type="application/json")

    for body in known_bad(customer):
        run.hypothesis.inner_test(body)
    run()


def test_post_events_batch_answers_arbitrary_bodies_with_2xx_or_a_clean_4xx(hostile):
    event = event_shaped(hostile.ctx["customer"].external_id)
    batches = objects_like({"events": st.lists(st.one_of(event, JSON_VALUES), min_size=1, max_size=5)})

    @HOSTILE
    @given(body=json_bodies(batches))
    def run(body):
        hostile.send("POST", "/api/v1/events/batch", body, data=body, content_type="application/json")

    for event in known_bad(hostile.ctx["customer"].external_id):
        run.hypothesis.inner_test(b'{"events": [' + event + b"]}")
    run()


def test_post_customers_answers_arbitrary_bodies_with_2xx_or_a_clean_4xx(hostile):
    @HOSTILE
    @example(body=b'{"external_id": "cus_nul", "name": "N\\u0000L"}')
    @example(body=b'{"external_id": "cus_sur", "name": "\\ud800"}')
    @example(body=b'{"external_id": "cus_nul", "name": "Nul", "metadata": {"k": "\\u0000"}}')
    @given(body=json_bodies(CUSTOMER_SHAPED))
    def run(body):
        hostile.send("POST", "/api/v1/customers", body, data=body, content_type="application/json")

    run()


def test_patch_customer_answers_arbitrary_bodies_with_2xx_or_a_clean_4xx(hostile):
    path = f"/api/v1/customers/{hostile.ctx['customer'].external_id}"

    @HOSTILE
    @given(body=json_bodies(CUSTOMER_SHAPED))
    def run(body):
        hostile.send("PATCH", path, body, data=body, content_type="application/json")

    run()


CSV_HEADERS = st.one_of(
    st.just(["external_id", "name"]),
    st.just(["external_id", "name", "email", "currency", "tax_rate", "billing_starts_on", "parent", "metadata.tier"]),
    st.lists(TEXT, min_size=1, max_size=4),
)
CSV_CELLS = st.one_of(st.just("cus_csv"), st.just("Csv Inc."), TEXT, NUMBERS.map(to_json), st.just('"quoted'))


@st.composite
def csv_files(draw) -> bytes:
    header = draw(CSV_HEADERS)
    rows = draw(st.lists(st.lists(CSV_CELLS, min_size=len(header), max_size=len(header) + 1), max_size=4))
    separator = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = separator.join(",".join(cells) for cells in [header, *rows])
    return draw(st.sampled_from(["", "\ufeff"])).encode() + text.encode("utf-8", "surrogatepass")


def test_customer_import_answers_arbitrary_files_with_2xx_or_a_clean_4xx(hostile):
    @HOSTILE
    @given(content=st.one_of(csv_files(), st.binary(max_size=300)), field=st.sampled_from(["file", "file", "data"]))
    def run(content, field):
        data = {field: (BytesIO(content), "customers.csv", "text/csv")}
        hostile.send("POST", "/api/v1/customers/import", field.encode() + b": " + content, data=data)

    run()
