"""Cockpit: the events explorer, fast on millions of rows.

Newest first, filtered by customer (external id), code and ``[from, to)``. Pages are
keyset-paginated on ``(timestamp, id)``, the order of the ``(merchant, timestamp, id)``
index: the next page starts strictly after the last row shown (``before=<timestamp>,<id>``),
the previous one is read backwards from the first row shown, so a page costs the same deep in the
history as on top; the total is counted up to ``COUNT_LIMIT`` (atlas/pagination.py).
"""

from datetime import UTC, datetime

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.views.generic import TemplateView

from atlas.pagination import keyset_pager
from atlas.tenancy import MerchantPageMixin
from metering.models import Event
from metering.selectors import events_list

PAGE_SIZE = 50
COUNT_LIMIT = 10_000  # the total is counted up to here ("of more than 10,000"): a page never scans the table


class EventFilterForm(forms.Form):
    customer = forms.CharField(required=False, max_length=255, label="Customer external id")
    code = forms.CharField(required=False, max_length=255, label="Event code")
    start = forms.DateTimeField(
        required=False, label="From (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    end = forms.DateTimeField(
        required=False, label="Before (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    before = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_start(self):
        return _utc(self.cleaned_data["start"])

    def clean_end(self):
        return _utc(self.cleaned_data["end"])

    def clean_before(self):
        raw = self.cleaned_data["before"].strip()
        if not raw:
            return None
        stamp, _, event_id = raw.rpartition(",")
        try:
            instant = datetime.fromisoformat(stamp)
            return _utc(instant), int(event_id)
        except ValueError:
            raise forms.ValidationError("is not a page cursor (timestamp,id)")

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            self.add_error("end", "must be after From")
        return data


def _utc(instant: datetime | None) -> datetime | None:
    """Inputs are read as UTC (events are stored and shown in UTC)."""
    if instant is None:
        return None
    if timezone.is_naive(instant):
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def cursor(event: Event) -> str:
    return f"{event.timestamp.isoformat()},{event.pk}"


class EventListView(MerchantPageMixin, TemplateView):
    template_name = "metering/events.html"

    def get(self, request, *args, **kwargs):
        form = EventFilterForm(request.GET or None)
        if form.is_bound and not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form, events=[]), status=400)
        data = form.cleaned_data if form.is_bound else {}
        events = events_list(
            merchant=request.merchant,
            events=self.scoped(Event),
            customer=data.get("customer") or None,
            code=data.get("code") or None,
            start=data.get("start"),
            end=data.get("end"),
        )
        filtered = events
        if data.get("before"):
            stamp, event_id = data["before"]
            events = events.filter(Q(timestamp__lt=stamp) | Q(timestamp=stamp, id__lt=event_id))
        page = list(events.order_by("-timestamp", "-id")[: PAGE_SIZE + 1])
        has_next = len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE]
        newer = None
        if data.get("before") and page:
            first = page[0]
            newer = filtered.filter(Q(timestamp__gt=first.timestamp) | Q(timestamp=first.timestamp, id__gt=first.pk))
            newer = newer.order_by("timestamp", "id")
        pager = keyset_pager(
            request, rows=page, has_next=has_next, cursor_param="before", cursor=cursor, newer=newer,
            total=filtered, page_size=PAGE_SIZE, count_limit=COUNT_LIMIT,
        )  # fmt: skip
        context = self.get_context_data(
            form=form if form.is_bound else EventFilterForm(),
            events=[{"event": event, "properties": sorted(event.properties.items())} for event in page],
            pager=pager,
            next_query=pager.next_query,
            first_query=pager.first_query,
            page_size=PAGE_SIZE,
        )
        return self.render_to_response(context)
