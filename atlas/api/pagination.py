from drf_spectacular.utils import inline_serializer
from rest_framework import pagination, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response


class CursorPagination(pagination.CursorPagination):
    """The one pagination class: ``{"results": [...], "next": url-or-null}``.

    Cursor pagination keeps deep pages as cheap as the first on millions of
    rows. Views order by a unique, immutable key (``-pk`` unless they say).
    """

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 1000
    ordering = "-pk"

    def get_page_size(self, request):
        """``?limit=`` is an integer from 1 to ``max_page_size``; anything else is a 400 on ``limit``.

        DRF's own reading falls back to the default for ``abc`` or ``0`` and clamps ``5000`` to the
        maximum: a client would believe it got what it asked for.
        """
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        reason = f"must be an integer from 1 to {self.max_page_size}"
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 4:
            raise ValidationError({self.page_size_query_param: reason})
        size = int(raw)
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: reason})
        return size

    def decode_cursor(self, request):
        """A ``?cursor=`` this list did not hand out is a 400 on ``cursor`` (DRF answers 404, as if the list
        were missing)."""
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: "is not a cursor from this list's next link"})

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return parameters

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "nullable": True, "format": "uri"},
            },
        }


def page_of(serializer: serializers.Serializer, name: str) -> serializers.Serializer:
    """The schema of a list an ``APIView`` answers in the one page shape (``{"results", "next"}``)."""
    return inline_serializer(
        name=name,
        fields={"results": serializer, "next": serializers.URLField(allow_null=True)},
    )
