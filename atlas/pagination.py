"""The cockpit's lists, one way to page them: "Showing 51–100 of 1,234", previous and next.

The partial ``templates/_pagination.html`` draws either of two sources:

- a Django ``Page`` (offset pages: ``{% include "_pagination.html" with page=page query=query %}``), for short lists;
- a :class:`Pager` built by :func:`keyset_pager`, for lists that must cost the same deep in the history (events,
  invoices): each page starts strictly after the last row shown (a cursor in the query string), the previous page
  is found by reading backwards from the first row shown (one query of at most ``page_size + 1`` rows), and the
  position travels in the query string (``at``), so nothing counts or skips rows to know where it is. The total is a
  count bounded by ``count_limit`` ("of more than 10,000" past it), so a page's cost never grows with the table.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import QueryDict

POSITION_PARAM = "at"


@dataclass(frozen=True)
class Pager:
    start_index: int  # 1-based, of the first row shown (0 when nothing is shown)
    end_index: int
    count: int  # rows in all (with ``more``: at least this many)
    more: bool  # the count stopped at its limit
    previous_query: str | None
    next_query: str | None
    first_query: str | None  # None on the first page

    @property
    def has_other_pages(self) -> bool:
        return bool(self.previous_query is not None or self.next_query)


def position(request) -> int:
    """The 1-based position of the page's first row, as the link that led here said (1 when absent or not a
    positive number: it only labels the page, it never selects rows)."""
    raw = request.GET.get(POSITION_PARAM, "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 10**9 else 1


def bounded_count(queryset: QuerySet, limit: int | None) -> tuple[int, bool]:
    """The number of rows, counting at most ``limit + 1`` of them (a ``LIMIT`` inside the ``COUNT``)."""
    if limit is None:
        return queryset.order_by().count(), False
    counted = queryset.order_by()[: limit + 1].count()
    return min(counted, limit), counted > limit


def keyset_pager(
    request,
    *,
    rows: Sequence,
    has_next: bool,
    cursor_param: str,
    cursor: Callable[[object], str],
    newer: QuerySet | None,
    total: QuerySet,
    page_size: int,
    count_limit: int | None = None,
) -> Pager:
    """Links and figures of a keyset page.

    ``rows``: the page shown; ``has_next``: whether rows follow; ``cursor_param``/``cursor``: the query parameter
    that starts a page strictly after a row, and how a row writes it; ``newer``: the rows before the first one
    shown, nearest first (None on the first page); ``total``: the filtered rows, for the count.
    """
    params: QueryDict = request.GET.copy()
    params.pop(cursor_param, None)
    params.pop(POSITION_PARAM, None)
    first_query = params.urlencode()
    at = position(request) if request.GET.get(cursor_param) else 1
    next_query = None
    if has_next and rows:
        following = params.copy()
        following[cursor_param] = cursor(rows[-1])
        following[POSITION_PARAM] = str(at + len(rows))
        next_query = following.urlencode()
    previous_query = None
    if newer is not None:
        before = list(newer[: page_size + 1])
        if len(before) > page_size:  # a full page lies between: it starts after the row that precedes it
            earlier = params.copy()
            earlier[cursor_param] = cursor(before[page_size])
            earlier[POSITION_PARAM] = str(max(at - page_size, 2))
            previous_query = earlier.urlencode()
        else:  # the previous page is the first, and this one's position is exact
            at, previous_query = len(before) + 1, (first_query if before else None)
    count, more = bounded_count(total, count_limit)
    if rows and at + len(rows) - 1 > count and not more:  # rows came in since the position was written
        count = at + len(rows) - 1
    return Pager(
        start_index=at if rows else 0,
        end_index=at + len(rows) - 1 if rows else 0,
        count=count,
        more=more,
        previous_query=previous_query,
        next_query=next_query,
        first_query=first_query if request.GET.get(cursor_param) else None,
    )
