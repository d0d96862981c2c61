"""The cockpit's statement of account of one customer: the page and its PDF."""

from django import forms
from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from atlas.tenancy import MerchantPageMixin
from billing.invoices.pdf import inline_pdf
from billing.reports.params import MAX_SPAN_DAYS, form_date_in_range, today
from billing.statements.pdf import statement_context, statement_pdf_bytes
from billing.statements.selectors import customer_statement
from customers.models import Customer


class StatementForm(forms.Form):
    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}),
                            validators=[form_date_in_range])  # fmt: skip
    end = forms.DateField(required=False, label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}),
                          validators=[form_date_in_range])  # fmt: skip

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "must be on or after the start date")
        elif start and end and (end - start).days > MAX_SPAN_DAYS:
            self.add_error("end", "at most ten years after the start date")
        return data


class StatementView(MerchantPageMixin, TemplateView):
    template_name = "billing/statement.html"
    pdf = False

    def get(self, request, external_id):
        customer = get_object_or_404(self.scoped(Customer).select_related("merchant"), external_id=external_id)
        form = StatementForm(request.GET)
        if not form.is_valid():
            return self.render_to_response({"customer": customer, "form": form}, status=400)
        now = today(customer.merchant.timezone)
        start = form.cleaned_data["start"] or now.replace(day=1)
        end = form.cleaned_data["end"] or now
        if start > end:
            start = end.replace(day=1)
        statement = customer_statement(customer=customer, currency=customer.currency, start=start, end=end)
        if self.pdf:
            return inline_pdf(statement_pdf_bytes(statement), f"statement-{start.isoformat()}-{end.isoformat()}.pdf")
        context = self.get_context_data(customer=customer, form=form, doc=statement_context(statement),
                                        query=f"start={start.isoformat()}&end={end.isoformat()}")  # fmt: skip
        return self.render_to_response(context)
