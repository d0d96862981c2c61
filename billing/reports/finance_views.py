"""Cockpit pages of the finance reports: receivables aging (with its chart) and the journal download."""


from django import forms
from django.http import FileResponse, StreamingHttpResponse
from django.views.generic import TemplateView

from atlas.money import to_str
from atlas.tenancy import MerchantPageMixin
from billing.display import date_text, money_text
from billing.reports.journal import XLSX, journal_csv, journal_rows, journal_xlsx
from billing.reports.params import MAX_SPAN_DAYS, form_date_in_range, today
from billing.reports.receivables import BUCKETS, aging_rows, aging_totals

BUCKET_LABELS = {"current": "Current", "1_30": "1–30 days", "31_60": "31–60 days", "61_90": "61–90 days",
                 "over_90": "Over 90 days", "total": "Total"}  # fmt: skip


class AgingForm(forms.Form):
    as_of = forms.DateField(required=False, label="As of", widget=forms.DateInput(attrs={"type": "date"}),
                            validators=[form_date_in_range])  # fmt: skip
    currency = forms.CharField(required=False, max_length=3)


class JournalForm(forms.Form):
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}),
                            validators=[form_date_in_range])  # fmt: skip
    end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}),
                          validators=[form_date_in_range])  # fmt: skip
    format = forms.ChoiceField(choices=[("csv", "CSV"), ("xlsx", "Excel (.xlsx), a sheet per month")])

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "must be on or after the start date")
        elif start and end and (end - start).days > MAX_SPAN_DAYS:
            self.add_error("end", "at most ten years after the start date")
        return data


class ReceivablesView(MerchantPageMixin, TemplateView):
    """What customers owe by days past due, at the close of a day; the journal download; dunning."""

    template_name = "billing/receivables.html"

    def get(self, request, *args, **kwargs):
        form = AgingForm(request.GET)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form, rows=[]), status=400)
        return self.render_to_response(self.get_context_data(form=form))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        merchant, form = self.request.merchant, kwargs["form"]
        now = today(merchant.timezone)
        context.setdefault("journal_form", JournalForm(initial={"start": now.replace(day=1), "end": now,
                                                                "format": "csv"}))  # fmt: skip
        if form.errors:
            return context
        as_of = form.cleaned_data["as_of"] or now
        rows = aging_rows(merchant=merchant, as_of=as_of)
        totals = aging_totals(rows)
        currency = form.cleaned_data["currency"] if form.cleaned_data["currency"] in totals else next(iter(totals), "")
        keys = (*BUCKETS, "total")
        context.update(
            as_of=as_of, as_of_text=date_text(as_of), currency=currency, currencies=list(totals),
            buckets=[BUCKET_LABELS[key] for key in keys],
            rows=[{"customer": row.customer, "name": row.customer_name, "currency": row.currency,
                   "amounts": [money_text(row.amounts[key], row.currency) for key in keys]} for row in rows],
            totals=[(code, [money_text(sums[key], code) for key in keys]) for code, sums in totals.items()],
            chart={"labels": [BUCKET_LABELS[key] for key in BUCKETS], "currency": currency,
                   "values": [to_str(totals[currency][key], currency) for key in BUCKETS] if currency else []},
        )  # fmt: skip
        return context


class JournalDownloadView(ReceivablesView):
    """The journal as CSV (streamed) or an Excel workbook; a bad form is the page again, 400."""

    def get(self, request, *args, **kwargs):
        form = JournalForm(request.GET)
        if not form.is_valid():
            context = self.get_context_data(form=AgingForm({}), journal_form=form)
            return self.render_to_response(context, status=400)
        merchant, data = request.merchant, form.cleaned_data
        rows = journal_rows(merchant=merchant, start=data["start"], end=data["end"])
        filename = f"{merchant.slug}-journal-{data['start'].isoformat()}-{data['end'].isoformat()}.{data['format']}"
        if data["format"] == "csv":
            response = StreamingHttpResponse(journal_csv(rows), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        return FileResponse(journal_xlsx(rows), as_attachment=True, filename=filename, content_type=XLSX)
