"""The API's error responses in the OpenAPI schema: one ``Error`` component, documented on every operation.

Every error the API answers has the one shape of ``atlas.api.exceptions``. drf-spectacular
documents only the success responses of a view; this postprocessing hook adds the errors
each operation can answer, by what the operation takes:

- 400 when it takes input: a request body, query parameters or path parameters (a value
  that cannot be a valid identifier, such as one holding a NUL character, is a 400);
- 401 when it needs an API key (every operation of the API);
- 404 when a path parameter names a record (a missing record, or another merchant's);
- 409 when it changes or acts on an existing record (a published plan, an ended
  subscription, an invoice in another state, an archived customer), and for the CSV
  import (concurrent imports, reseller cycles);
- 413 where the size of the input is limited: the event ingestion endpoints (a batch
  holds at most 1,000 events; a body has a size limit) and the CSV import;
- 415 when it takes a body: a content type the operation does not parse (or a multipart
  body too malformed to name one).
"""

ERROR_COMPONENT = "Error"

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error the API answers: what went wrong, and for a 400 the fields at fault.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "type": {
                    "type": "string",
                    "description": "validation_error, authentication_error, not_found, conflict, "
                    "payload_too_large, …",
                },
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "The fields at fault and why, nested fields flattened "
                    "(`charges[0].tiers[1].up_to`); empty unless the error is about fields.",
                    "additionalProperties": {"type": "string"},
                },
                # The CSV import reports every row at fault (docs/customers.md).
                "errors": {
                    "type": "array",
                    "description": "CSV import only: the first 1,000 errors, by row and column.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "row": {"type": "integer", "nullable": True},
                            "column": {"type": "string"},
                            "message": {"type": "string"},
                        },
                        "required": ["row", "column", "message"],
                    },
                },
                "error_count": {"type": "integer", "description": "CSV import only: how many errors in all."},
            },
            "required": ["type", "message", "fields"],
            "additionalProperties": False,
        }
    },
    "required": ["error"],
    "additionalProperties": False,
}

DESCRIPTIONS = {
    "400": "Invalid input: `fields` names each field at fault and the reason.",
    "401": "No API key, an unknown one, or a revoked one.",
    "404": "No such record for this merchant (another merchant's record is answered the same way).",
    "409": "The request conflicts with the record's current state.",
    "413": "The request is too large.",
    "415": "The request body's content type is not one this operation accepts.",
}

UNSAFE_METHODS = {"post", "put", "patch", "delete"}
# Operations whose input size is limited (by operationId): see the module docstring.
SIZE_LIMITED = {"events_create", "events_batch_create", "customers_import_create"}
CONFLICTING = {"customers_import_create"}


def error_statuses(method: str, operation: dict, secured: bool) -> list[str]:
    """The error statuses ``operation`` documents (see the module docstring for the rules)."""
    locations = {parameter.get("in") for parameter in operation.get("parameters", [])}
    takes_body = "requestBody" in operation
    statuses = []
    if takes_body or locations & {"query", "path"}:
        statuses.append("400")
    if secured:
        statuses.append("401")
    if "path" in locations:
        statuses.append("404")
    if (method in UNSAFE_METHODS and "path" in locations) or operation.get("operationId") in CONFLICTING:
        statuses.append("409")
    if operation.get("operationId") in SIZE_LIMITED:
        statuses.append("413")
    if takes_body:
        statuses.append("415")
    return statuses


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: the ``Error`` component and each operation's error responses."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    default_security = result.get("security")
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete", "head", "options"}:
                continue
            security = operation.get("security", default_security) or []
            # drf-spectacular lists ``{}`` when anonymous access is allowed; any named scheme means a key is needed.
            secured = any(requirement for requirement in security)
            responses = operation.setdefault("responses", {})
            for status in error_statuses(method, operation, secured):
                content = {"application/json": {"schema": reference}}
                responses.setdefault(status, {"description": DESCRIPTIONS[status], "content": content})
    return result
