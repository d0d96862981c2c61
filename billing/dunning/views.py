"""The cockpit's dunning page: the steps, a preview of the reminder e-mail, and the reminders recorded."""

from django import forms
from django.views.generic import TemplateView

from atlas.tenancy import MerchantPageMixin
from billing.dunning.models import DunningReminder
from billing.dunning.services import reminder_message
from billing.invoices.models import Invoice

RECENT = 50


class PreviewForm(forms.Form):
    invoice = forms.IntegerField(required=False, min_value=1, max_value=2**62)
    step = forms.IntegerField(required=False, min_value=1, max_value=365)


class DunningView(MerchantPageMixin, TemplateView):
    template_name = "billing/dunning.html"

    def get(self, request, *args, **kwargs):
        form = PreviewForm(request.GET)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        return self.render_to_response(self.get_context_data(form=form))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        merchant, form = self.request.merchant, kwargs["form"]
        steps = list(merchant.dunning_days or [])
        reminders = (
            self.scoped(DunningReminder).select_related("invoice").order_by("-planned_at", "-pk")[:RECENT]
        )
        context.update(steps=steps, reminders=reminders)
        if form.errors:
            return context
        unpaid = self.scoped(Invoice).filter(status=Invoice.Status.FINALIZED).select_related("customer", "merchant")
        chosen = form.cleaned_data["invoice"]
        invoice = (unpaid.filter(pk=chosen) if chosen else unpaid.order_by("due_at", "pk")).first()
        if chosen and invoice is None:
            form.add_error("invoice", "not an unpaid invoice of yours")
            return context
        step = form.cleaned_data["step"] or (steps[0] if steps else 7)
        if invoice is not None:
            subject, body = reminder_message(invoice=invoice, step=step)
            sender = merchant.company_email or "(DEFAULT_FROM_EMAIL: set the company e-mail in Settings)"
            context.update(preview={"invoice": invoice, "step": step, "subject": subject, "body": body,
                                    "sender": sender, "to": invoice.customer.email})  # fmt: skip
        return context
