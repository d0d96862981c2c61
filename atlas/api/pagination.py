from drf_spectacular.utils import inline_serializer
from rest_framework import pagination, serializers
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
