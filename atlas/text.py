"""The text rule every input passes: valid Unicode that any database and encoder accepts.

A NUL character is refused by PostgreSQL's text types (a 500 if it reaches a query) and a lone
surrogate (``"\\ud800"`` is valid JSON) cannot be encoded as UTF-8 by psycopg, SQLite or the JSON
renderer. Both are refused at the edge, before any view runs:

- JSON, form and multipart bodies of the API: ``atlas.api.parsers`` walks the parsed body;
- query strings and paths, API and cockpit: ``atlas.middleware.HostileInputMiddleware``;
- CSV files: ``customers.csv_import`` (whole-file checks);
- cockpit forms: Django's ``forms.CharField`` refuses NUL itself, and the middleware checks every
  posted value.

Length limits are each field's (serializers, forms, ``customers.validators``); the only limit here is
``MAX_PARAMETER_LENGTH`` for query-string parameters, which no field declares.
"""

import re
from urllib.parse import unquote_to_bytes

NUL = "\x00"
MAX_PARAMETER_LENGTH = 2000
_SURROGATE = re.compile("[\ud800-\udfff]")

NUL_REASON = "must not contain NUL characters"
SURROGATE_REASON = "must be valid Unicode text (it contains a lone surrogate)"
UTF8_REASON = "must be valid UTF-8 text"


def problem(value: str) -> str | None:
    """Why ``value`` is unacceptable text, or None. Cheap on the common case (ASCII without NUL)."""
    if NUL in value:
        return NUL_REASON
    if not value.isascii() and _SURROGATE.search(value):
        return SURROGATE_REASON
    return None


def check(value: str) -> str:
    """``value`` unchanged, or ``ValueError`` with the reason (for ``customers.validators`` and forms)."""
    reason = problem(value)
    if reason:
        raise ValueError(reason)
    return value


def printable(value: str) -> str:
    """``value`` safe to echo in an error: NUL and lone surrogates written as escapes."""
    return value.replace(NUL, "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def first_problem(data, path: str = "") -> tuple[str, str] | None:
    """The path (``metadata.k``, ``charges[0].metric``) and reason of the first bad string or key in ``data``.

    ``data`` is what ``json.loads`` returns: dicts, lists, strings and scalars. Iterative, so a deeply
    nested body cannot exhaust the stack.
    """
    stack = [(path, data)]
    while stack:
        here, value = stack.pop()
        if isinstance(value, str):
            reason = problem(value)
            if reason:
                return here or "body", reason
        elif isinstance(value, dict):
            items = []
            for key, item in value.items():
                child = f"{here}.{printable(key)}" if here else printable(key)
                reason = problem(key)
                if reason:
                    return child, f"the key {reason}"
                items.append((child, item))
            stack.extend(reversed(items))
        elif isinstance(value, list):
            stack.extend((f"{here}[{index}]", item) for index, item in reversed(list(enumerate(value))))
    return None


def query_problem(query_string: str) -> tuple[str, str] | None:
    """The first query-string parameter (name or value) that is not acceptable text, as (name, reason).

    ``query_string`` is the WSGI ``QUERY_STRING``: bytes as latin-1 characters. Django decodes it
    leniently (invalid UTF-8 becomes U+FFFD), so the raw bytes are checked here.
    """
    if query_string.isascii() and "%" not in query_string and len(query_string) <= MAX_PARAMETER_LENGTH:
        return None  # plain ASCII without escapes: nothing hostile can hide in it
    for pair in query_string.split("&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        name, name_reason = _decoded(raw_name)
        if name_reason:
            return name or "query", f"the parameter name {name_reason}"
        value, value_reason = _decoded(raw_value)
        if value_reason:
            return name, value_reason
        if len(value) > MAX_PARAMETER_LENGTH:
            return name, f"must be at most {MAX_PARAMETER_LENGTH} characters"
    return None


def path_problem(path_info: str) -> str | None:
    """Why a request's decoded path is not acceptable, or None.

    Django has already decoded the path, re-escaping bytes that are not UTF-8 (``caf%E9`` stays those six
    characters, exactly like a literal ``caf%25E9``): such a path names no record and answers 404, so only
    what survives decoding is checked here.
    """
    if path_info.isascii():
        return NUL_REASON if NUL in path_info else None
    return problem(path_info)


def _decoded(raw: str) -> tuple[str, str | None]:
    """(printable decoded text, reason or None) for one form-encoded name or value."""
    data = unquote_to_bytes(raw.replace("+", " ").encode("latin-1", "replace"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return printable(data.decode("utf-8", "replace")), UTF8_REASON
    return printable(text), problem(text)
