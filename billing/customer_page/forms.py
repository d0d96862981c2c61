"""The customer page's provisioning forms."""

from django import forms

from billing.subscriptions.periods import CALENDAR_RANGE_ERROR, in_calendar_range
from catalog.models import Plan, PlanVersion


class ProvisionForm(forms.Form):
    external_id = forms.CharField(max_length=255, label="User id", help_text="Your id for this person.")
    email = forms.EmailField(required=False)
    name = forms.CharField(max_length=255, required=False)
    provisioned_at = forms.DateTimeField(
        required=False, label="From (UTC)", help_text="Empty: now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )  # fmt: skip

    prefix = "provision"

    def clean_external_id(self):
        value = self.cleaned_data["external_id"].strip()
        if not value or "/" in value:
            raise forms.ValidationError("must be a non-empty id without '/'")
        return value


class DeprovisionForm(forms.Form):
    at = forms.DateTimeField(
        required=False, label="At (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    prefix = "deprovision"


# --- subscriptions: subscribe, change plan, cancel (the services' rules; errors come back on the named field) ----

EFFECTIVE_CHOICES = [("period_end", "At the end of the current period"), ("immediately", "Now")]


def plan_choices(merchant, currency: str | None = None) -> list[tuple[str, str]]:
    """Plans that accept new subscriptions: not archived, with a published version (the newest is used unless a
    version is named). Plans in another currency than the customer's are left out (the service refuses them)."""
    versions = PlanVersion.objects.filter(plan__merchant=merchant, plan__archived_at__isnull=True, status="published")
    if currency:
        versions = versions.filter(currency=currency)
    newest: dict[int, int] = {}
    for plan_id, version in versions.values_list("plan_id", "version"):
        newest[plan_id] = max(version, newest.get(plan_id, 0))
    plans = Plan.objects.filter(pk__in=newest).order_by("name", "code")
    return [("", "Choose a plan")] + [(p.code, f"{p.name} ({p.code}) · v{newest[p.pk]}") for p in plans]


class _PlanFields(forms.Form):
    plan = forms.ChoiceField(label="Plan", choices=())
    plan_version = forms.IntegerField(
        label="Version", required=False, min_value=1, max_value=2**31 - 1,
        help_text="Leave blank for the newest published version.",
    )  # fmt: skip
    overrides = forms.JSONField(
        label="Price overrides", required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": '{"charges": {"api_calls": {"unit_amount": "0.008"}}}'}),
        help_text='JSON, as the API takes it: {"charges": {metric: {parameters}}, "features": {key: value}}. '
        "Leave blank for the plan's prices.",
    )  # fmt: skip

    def __init__(self, *args, merchant, currency=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = plan_choices(merchant, currency)

    def clean_overrides(self):
        value = self.cleaned_data.get("overrides")
        if value in (None, "", {}):
            return None
        if not isinstance(value, dict):
            raise forms.ValidationError('Must be a JSON object such as {"charges": {"api_calls": {...}}}.')
        return value


class SubscribeForm(_PlanFields):
    external_id = forms.CharField(
        label="Subscription ID", max_length=255, help_text="Your id for this subscription (used in the API)."
    )
    start_date = forms.DateField(label="Start date", widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text="Midnight in your time zone; it may lie in the past.")  # fmt: skip
    billing_anchor = forms.ChoiceField(
        label="Billing anchor",
        choices=[("calendar", "Calendar (your billing day)"), ("anniversary", "Anniversary (the start date)")],
        initial="calendar",
    )
    trial_days = forms.IntegerField(
        label="Trial days", required=False, min_value=0, max_value=3650, help_text="Leave blank for the plan's trial."
    )

    field_order = ["plan", "plan_version", "external_id", "start_date", "billing_anchor", "trial_days", "overrides"]

    def clean_external_id(self):
        value = self.cleaned_data["external_id"].strip()
        if not value or "/" in value:
            raise forms.ValidationError("Must be a non-empty id without '/'.")
        return value

    def clean_start_date(self):
        value = self.cleaned_data["start_date"]
        if not in_calendar_range(value):
            raise forms.ValidationError(CALENDAR_RANGE_ERROR)
        return value


class ChangePlanForm(_PlanFields):
    effective = forms.ChoiceField(
        label="When", choices=EFFECTIVE_CHOICES, initial="period_end", widget=forms.RadioSelect
    )

    field_order = ["plan", "plan_version", "effective", "overrides"]


class CancelForm(forms.Form):
    effective = forms.ChoiceField(
        label="When", choices=EFFECTIVE_CHOICES, initial="period_end", widget=forms.RadioSelect
    )
