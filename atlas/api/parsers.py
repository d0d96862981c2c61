"""The API's body parsers: DRF's, plus the text rule (``atlas.text``) on every string and key.

A body holding a NUL character or a lone surrogate anywhere is a 400 naming the first such place
(``metadata.k``, ``charges[0].metric``) before any serializer or query sees it: PostgreSQL refuses NUL
in text and no encoder accepts a lone surrogate, so either would otherwise be a 500. Being the default
parsers, they cover every DRF view; the two ingestion POSTs parse their bodies themselves (metering).
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from atlas import text


def _refuse(where: tuple[str, str] | None) -> None:
    if where is not None:
        path, reason = where
        raise ValidationError({path: reason})


def _check_form(data) -> None:
    """A QueryDict of form fields: every name and every value."""
    for name, values in data.lists():
        reason = text.problem(name)
        if reason:
            _refuse((text.printable(name), f"the field name {reason}"))
        for value in values:
            if isinstance(value, str):
                _refuse(text.first_problem(value, text.printable(name)))


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
            _refuse(text.first_problem(data))
        except RecursionError:  # a body nested thousands of levels deep: Python's decoder gives up
            raise ParseError("JSON parse error - the body is nested too deeply.")
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_form(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        _check_form(result.data)
        return result
