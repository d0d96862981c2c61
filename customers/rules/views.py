"""The Billing rules page (SPEC §10): who is left out of invoices, and why, today.

Pattern rules (``BillingRule``) and each customer's own rules (go-live, departure, test customer) are shown
with what they exclude today; admins create, edit and delete them through ``customers.services`` (the same
validation as the API); viewers only read.
"""

import zoneinfo

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.generic import TemplateView
from rest_framework.exceptions import ValidationError

from atlas.tenancy import MerchantPageMixin
from customers import services
from customers.models import BillingRule, Customer
from customers.rules import selectors
from customers.rules.forms import BillingRuleForm, CustomerWindowForm


def _add_errors(form, exc: ValidationError) -> None:
    detail = exc.detail if isinstance(exc.detail, dict) else {None: exc.detail}
    for field, reasons in detail.items():
        reasons = reasons if isinstance(reasons, list) else [reasons]
        target = field if field in form.fields else None
        form.add_error(target, " ".join(f"{field}: {reason}" if target is None and field else str(reason)
                                        for reason in reasons))  # fmt: skip


class BillingRulesView(MerchantPageMixin, TemplateView):
    template_name = "customers/billing_rules.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        today = timezone.localdate(now, timezone=_zone(self.request.merchant))
        context.update(
            today=today,
            rules=selectors.rule_matches(merchant=self.request.merchant, today=today, now=now),
            customer_rules=selectors.customer_rules(merchant=self.request.merchant, today=today),
            form=kwargs.get("form") or BillingRuleForm(),
            window_form=kwargs.get("window_form") or CustomerWindowForm(),
        )
        return context

    def post(self, request):
        """Create a pattern rule."""
        form = BillingRuleForm(request.POST)
        if form.is_valid():
            try:
                rule = services.billing_rule_create(merchant=request.merchant, **form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Rule {rule.name!r} created.")
                return redirect("cockpit:billing-rules")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class CustomerWindowView(BillingRulesView):
    """Set one customer's go-live date, departure date and test flag (``customer_update``)."""

    http_method_names = ["post"]

    def post(self, request):
        form = CustomerWindowForm(request.POST)
        if form.is_valid():
            customer = Customer.objects.filter(
                merchant=request.merchant, external_id=form.cleaned_data["customer"].strip()
            ).first()
            if customer is None:
                form.add_error("customer", "no customer with this external ID")
            else:
                names = ("billing_starts_on", "billing_ends_on", "is_test")
                changes = {name: form.cleaned_data[name] for name in names}
                try:
                    services.customer_update(customer=customer, **changes)
                except ValidationError as exc:
                    _add_errors(form, exc)
                else:
                    messages.success(request, f"Billing rules of {customer.name} saved.")
                    return redirect("cockpit:billing-rules")
        return self.render_to_response(self.get_context_data(window_form=form), status=400)


class BillingRuleDetailView(MerchantPageMixin, TemplateView):
    """One pattern rule: edit it (admins) and read its history."""

    template_name = "customers/billing_rule.html"

    def rule(self, pk) -> BillingRule:
        return get_object_or_404(self.scoped(BillingRule), pk=pk)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rule = kwargs.get("rule") or self.rule(kwargs["pk"])
        context.update(rule=rule, form=kwargs.get("form") or BillingRuleForm(instance=rule))
        return context

    def post(self, request, pk):
        rule = self.rule(pk)
        form = BillingRuleForm(request.POST, instance=BillingRule.objects.get(pk=rule.pk))
        if form.is_valid():
            try:
                services.billing_rule_update(rule=rule, **{name: form.cleaned_data[name] for name in form.changed_data})
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Rule {form.cleaned_data['name']!r} saved.")
                return redirect("cockpit:billing-rules")
        return self.render_to_response(self.get_context_data(rule=rule, form=form), status=400)


class BillingRuleDeleteView(BillingRuleDetailView):
    http_method_names = ["post"]

    def post(self, request, pk):
        rule = self.rule(pk)
        services.billing_rule_delete(rule=rule)
        messages.success(request, f"Rule {rule.name!r} deleted.")
        return redirect("cockpit:billing-rules")


def _zone(merchant) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(merchant.timezone)
