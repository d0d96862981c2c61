"""Cockpit: the events explorer, fast on millions of rows.

Newest first, filtered by customer (external id), code and ``[from, to)``. Pages are
keyset-paginated on ``(timestamp, id)``, the order of the ``(merchant, timestamp, id)``
index: the next page starts strictly after the last row shown (``before=<timestamp>,<id>``),
so a page costs the same deep in the history as on top, and nothing counts the table.
"""

from datetime import UTC, datetime

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.views.generic import TemplateView

from atlas.tenancy import MerchantPageMixin
from metering.models import Event
from metering.selectors import events_list

PAGE_SIZE = 50


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
        if data.get("before"):
            stamp, event_id = data["before"]
            events = events.filter(Q(timestamp__lt=stamp) | Q(timestamp=stamp, id__lt=event_id))
        page = list(events.order_by("-timestamp", "-id")[: PAGE_SIZE + 1])
        has_next = len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE]
        next_query = None
        if has_next:
            query = request.GET.copy()
            query["before"] = cursor(page[-1])
            next_query = query.urlencode()
        first_query = None
        if data.get("before"):
            query = request.GET.copy()
            query.pop("before", None)
            first_query = query.urlencode()
        context = self.get_context_data(
            form=form if form.is_bound else EventFilterForm(),
            events=[{"event": event, "properties": sorted(event.properties.items())} for event in page],
            next_query=next_query,
            first_query=first_query,
            page_size=PAGE_SIZE,
        )
        return self.render_to_response(context)
