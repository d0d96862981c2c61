"""Cockpit pages of reports: the dashboard, analytics and exports."""

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django import forms
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.generic import TemplateView

from atlas.tenancy import MerchantPageMixin
from billing.display import date_text as day_text
from billing.display import money_text, month_text, percent_text, quantity_text
from billing.reports import analytics, exports

DEFAULT_CURRENCY = "USD"


def _percent(ratio: Decimal | None) -> str:
    return "—" if ratio is None else f"{percent_text(ratio, places=2)}%"


def _run_rate_context(rate: analytics.RevenueRunRate) -> dict:
    """Recurring fees and usage side by side, formatted (the figures stay exact in ``rate``)."""
    currency = rate.currency
    return {
        "rate": rate,
        "mrr": money_text(rate.mrr, currency),
        "arr": money_text(rate.arr, currency),
        "usage_month": month_text(rate.usage_month.year, rate.usage_month.month),
        "usage_last_month": money_text(rate.usage_last_month, currency),
        "usage_30_days": money_text(rate.usage_30_days, currency),
        "monthly_total": money_text(rate.monthly_total, currency),
    }


class CurrencyMixin:
    """The reporting currency: ``?currency=``, else the merchant's most subscribed one."""

    def currency_choices(self) -> list[str]:
        if not hasattr(self, "_currencies"):
            self._currencies = analytics.reporting_currencies(merchant=self.request.merchant) or [DEFAULT_CURRENCY]
        return self._currencies


def _currency_field(choices: list[str]) -> forms.ChoiceField:
    return forms.ChoiceField(choices=[(code, code) for code in choices], required=False)


class DashboardForm(forms.Form):
    def __init__(self, *args, currencies: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"] = _currency_field(currencies)


class DashboardView(CurrencyMixin, MerchantPageMixin, TemplateView):
    """MRR now, revenue billed by month, events per day, credits outstanding, top customers."""

    template_name = "billing/dashboard.html"

    def get(self, request, *args, **kwargs):
        currencies = self.currency_choices()
        form = DashboardForm(request.GET, currencies=currencies)
        if not form.is_valid():
            return self.render_to_response({"form": form, "currencies": currencies}, status=400)
        currency = form.cleaned_data["currency"] or currencies[0]
        return self.render_to_response(self.get_context_data(form=form, currency=currency, currencies=currencies))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        merchant, currency, now = self.request.merchant, kwargs["currency"], timezone.now()
        year, month = analytics.month_of(now, merchant.timezone)
        months = analytics.months_ending(year=year, month=month, count=12, timezone=merchant.timezone)
        mrr = analytics.mrr_report(merchant=merchant, currency=currency, months=months[-2:], now=now)
        revenue = analytics.revenue_by_month(merchant=merchant, currency=currency, months=months)
        # The chart starts at the first month with revenue: a young book does not show a year of empty bars.
        first = next((index for index, (_, amount) in enumerate(revenue) if amount), len(revenue) - 1)
        chart_revenue = revenue[first:]
        today = now.astimezone(ZoneInfo(merchant.timezone)).date()
        events = analytics.events_per_day(merchant=merchant, start=today - timedelta(days=29), days=30)
        credits = analytics.credits_outstanding(merchant=merchant)
        top = analytics.top_customers(merchant=merchant, currency=currency, since=months[0].start)
        current, previous = mrr.months[-1], mrr.months[-2]
        run_rate = analytics.revenue_run_rate(merchant=merchant, currency=currency, mrr=current.mrr, now=now)
        # The selected currency's balance first, then the others alphabetically.
        credits = sorted(credits.items(), key=lambda item: (item[0] != currency, item[0]))
        context.update(
            mrr=money_text(current.mrr, currency),
            mrr_change=money_text(current.mrr - previous.mrr, currency),
            mrr_up=current.mrr >= previous.mrr,
            paying_customers=current.customers,
            run_rate=_run_rate_context(run_rate),
            revenue_12m=money_text(sum((amount for _, amount in revenue), Decimal(0)), currency),
            events_30d=quantity_text(sum(n for _, n in events)),
            credits=[(code, money_text(amount, code)) for code, amount in credits],
            top_customers=[{**row, "revenue_text": money_text(row["revenue"], currency)} for row in top],
            charts={
                "revenue": {"labels": [m.label for m, _ in chart_revenue],
                            "values": [str(v) for _, v in chart_revenue]},  # fmt: skip
                "events": {"labels": [d.isoformat() for d, _ in events], "values": [n for _, n in events]},
                "currency": currency,
            },
        )
        return context


class AnalyticsForm(forms.Form):
    months = forms.IntegerField(required=False, min_value=2, max_value=36)
    end = forms.RegexField(required=False, regex=r"^\d{4}-(0[1-9]|1[0-2])$",
                           error_messages={"invalid": "must be a month as YYYY-MM"})  # fmt: skip

    def __init__(self, *args, currencies: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"] = _currency_field(currencies)

    def clean_end(self):
        value = self.cleaned_data["end"]
        if value and not 2000 <= int(value[:4]) <= 2100:
            raise forms.ValidationError("must be a month between 2000 and 2100")
        return value


class AnalyticsView(CurrencyMixin, MerchantPageMixin, TemplateView):
    """MRR movements and NRR per month; revenue recognised versus deferred for in-advance fees."""

    template_name = "billing/analytics.html"

    def get(self, request, *args, **kwargs):
        currencies = self.currency_choices()
        form = AnalyticsForm(request.GET, currencies=currencies)
        if not form.is_valid():
            return self.render_to_response({"form": form, "currencies": currencies}, status=400)
        return self.render_to_response(self.get_context_data(form=form, currencies=currencies))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        merchant, now = self.request.merchant, timezone.now()
        data = kwargs["form"].cleaned_data
        currency = data["currency"] or kwargs["currencies"][0]
        if data["end"]:
            year, month = int(data["end"][:4]), int(data["end"][5:])
        else:
            year, month = analytics.month_of(now, merchant.timezone)
        months = analytics.months_ending(year=year, month=month, count=data["months"] or 12, timezone=merchant.timezone)
        months = [m for m in months if m.start <= now] or months[:1]
        report = analytics.mrr_report(merchant=merchant, currency=currency, months=months, now=now)
        schedule = analytics.deferred_revenue_report(merchant=merchant, currency=currency, months=months, now=now)
        run_rate = analytics.revenue_run_rate(merchant=merchant, currency=currency, mrr=report.mrr, now=now)
        tz = merchant.timezone
        nrr_from = months[0].start if report.nrr_base is None else report.nrr_base.end

        def money(value):
            return money_text(value, currency)

        mrr_rows = [
            {
                "label": row.month.label, "starting": money(row.starting), "new": money(row.movements.new),
                "expansion": money(row.movements.expansion), "contraction": money(row.movements.contraction),
                "churn": money(row.movements.churn), "mrr": money(row.mrr), "customers": row.customers,
                "nrr": _percent(row.nrr),
            }
            for row in report.months
        ]  # fmt: skip
        revenue_rows = [
            {"label": row.month.label, "billed": money(row.billed), "recognised": money(row.recognised),
             "deferred": money(row.deferred)}
            for row in schedule
        ]  # fmt: skip
        context.update(
            currency=currency,
            end_month=months[-1].label,
            report=report,
            nrr=_percent(report.nrr),
            # NRR's span: from the base snapshot (the window's opening, or a young book's first paying month end)
            nrr_span=f"{day_text(nrr_from, tz)} – {day_text(min(months[-1].end, now), tz)}",
            run_rate=_run_rate_context(run_rate),
            mrr_now=money(report.months[-1].mrr),
            span=f"{month_text(months[0].year, months[0].month)} – {month_text(months[-1].year, months[-1].month)}",
            mrr_rows=mrr_rows,
            revenue_rows=revenue_rows,
            deferred_now=money(schedule[-1].deferred),
            charts={
                "labels": [m.label for m in months],
                "mrr": [str(row.mrr) for row in report.months],
                "new": [str(row.movements.new) for row in report.months],
                "expansion": [str(row.movements.expansion) for row in report.months],
                "contraction": [str(row.movements.contraction) for row in report.months],
                "churn": [str(row.movements.churn) for row in report.months],
                "recognised": [str(row.recognised) for row in schedule],
                "deferred": [str(row.deferred) for row in schedule],
                "currency": currency,
            },
        )
        return context


class ExportForm(forms.Form):
    kind = forms.ChoiceField(choices=[("invoices", "Invoices"), ("usage", "Usage"),
                                      ("credit_notes", "Credit notes")])  # fmt: skip
    format = forms.ChoiceField(choices=[("csv", "CSV"), ("xlsx", "Excel (.xlsx)")])
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "must be on or after the start date")
        return data


def _last_month(merchant) -> dict:
    today = timezone.now().astimezone(ZoneInfo(merchant.timezone)).date()
    end = today.replace(day=1) - timedelta(days=1)
    return {"kind": "invoices", "format": "csv", "start": end.replace(day=1), "end": end}


class ExportsView(MerchantPageMixin, TemplateView):
    template_name = "billing/exports.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", ExportForm(initial=_last_month(self.request.merchant)))
        context["invoice_columns"] = [column.name for column in exports.INVOICE_COLUMNS]
        context["usage_columns"] = [column.name for column in exports.USAGE_COLUMNS]
        return context


class ExportDownloadView(ExportsView):
    """The file itself: CSV streamed, Excel written to a temporary file; a bad form is the page again, 400."""

    def get(self, request, *args, **kwargs):
        form = ExportForm(request.GET)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        merchant, data = request.merchant, form.cleaned_data
        kind, fmt, start, end = data["kind"], data["format"], data["start"], data["end"]
        columns, rows = exports.export_source(merchant=merchant, kind=kind, start=start, end=end)
        filename = exports.export_filename(merchant=merchant, kind=kind, start=start, end=end, fmt=fmt)
        if fmt == "csv":
            response = StreamingHttpResponse(
                exports.csv_lines(columns, rows, timezone=merchant.timezone), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        handle = exports.xlsx_file(columns, rows, title=kind.replace("_", " ").title(), timezone=merchant.timezone)
        return FileResponse(
            handle, as_attachment=True, filename=filename,
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )  # fmt: skip
