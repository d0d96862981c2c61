"""Cockpit pages for plans: the list, a plan with its versions and subscribers, draft editing, publishing.

Every write goes through ``catalog.services`` (the same validation as the API), so an
error names the field the API would name. Conflicts (a published version, an archived
plan) come back as messages on the plan page.
"""

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.generic import TemplateView, View
from rest_framework.exceptions import ValidationError

from atlas.api.exceptions import Conflict
from atlas.money import minor_units
from atlas.tenancy import MerchantEditMixin, MerchantPageMixin
from catalog import rating, services
from catalog.forms import (
    BAND_COLUMNS,
    BAND_COLUMNS_OF,
    MODEL_FIELDS,
    MODEL_LABELS,
    PARAMETER_FIELDS,
    ChargeForm,
    PlanCreateForm,
    PlanVersionForm,
    service_errors_to_form,
)
from catalog.models import Charge, Feature, Plan, PlanVersion
from catalog.selectors import plan_version_latest, plans_with_subscribers

# --- reading a charge --------------------------------------------------------------------------------------------


def plain(value) -> str:
    """A stored number as a person reads it: no trailing zeros, thousands grouped (10000.00 → 10,000)."""
    if value is None:
        return ""
    number = Decimal(str(value)).normalize()
    text = format(number, "f")
    whole, _, fraction = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    whole = f"{int(whole.lstrip('-')):,}"
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def money(value, currency: str) -> str:
    """A price with at least the currency's decimals (unit prices may carry more)."""
    if value is None:
        return ""
    number = Decimal(str(value))
    text = plain(number)
    decimals = len(text.partition(".")[2])
    places = minor_units(currency)
    if decimals < places:
        text = (text if decimals else text + ".") + "0" * (places - decimals)
    return f"{text} {currency}"


def _bands_table(bands: list[dict], columns: list[tuple[str, str]], currency: str) -> dict:
    rows, previous = [], None
    for band in bands:
        above = plain(previous) if previous is not None else "0"
        up_to = plain(band["up_to"]) if band["up_to"] is not None else "∞"
        rows.append([above, up_to, *(money(band.get(key) or "0", currency) for key, _ in columns)])
        previous = band["up_to"]
    return {"headers": ["Above", "Up to (inclusive)", *(label for _, label in columns)], "rows": rows}


def describe_charge(charge: Charge, currency: str) -> dict:
    """A charge as sentences and, for banded and matrix models, a table (SPEC §3 in plain words)."""
    params, metric = charge.properties or {}, charge.metric
    unit = metric.name or metric.code
    out = {"charge": charge, "label": MODEL_LABELS.get(charge.model, charge.model), "sentence": "", "table": None,
           "notes": []}  # fmt: skip
    model = charge.model
    if model == "per_unit":
        out["sentence"] = f"{money(params.get('unit_amount'), currency)} per unit of {unit}."
    elif model == "flat":
        out["sentence"] = f"{money(params.get('amount'), currency)} flat for a period with any {unit}."
    elif model == "package":
        out["sentence"] = (
            f"{money(params.get('amount'), currency)} per package of {plain(params.get('package_size'))} "
            f"units of {unit}; a started package is billed in full."
        )
    elif model == "percentage":
        rate = Decimal(str(params.get("rate") or "0")) * 100
        sentence = f"{plain(rate)}% of {unit}"
        fixed = params.get("fixed_amount")
        if fixed is not None and Decimal(str(fixed)) != 0:
            sentence += f", plus {money(fixed, currency)} per event"
        out["sentence"] = sentence + "."
    elif model == "tiered":
        out["sentence"] = f"Graduated: each band's units of {unit} at that band's unit price, plus the flat fee of "
        out["sentence"] += "every band reached."
        columns = [("unit_amount", "Unit price"), ("flat_amount", "Flat fee")]
        out["table"] = _bands_table(params.get("tiers") or [], columns, currency)
    elif model == "volume":
        out["sentence"] = f"Volume: every unit of {unit} at the unit price of the band the total falls in, plus "
        out["sentence"] += "that band's flat fee."
        columns = [("unit_amount", "Unit price"), ("flat_amount", "Flat fee")]
        out["table"] = _bands_table(params.get("tiers") or [], columns, currency)
    elif model == "stairstep":
        out["sentence"] = f"Stairstep: the fee of every band the total of {unit} enters, added up."
        out["table"] = _bands_table(params.get("steps") or [], [("amount", "Fee")], currency)
    elif model == "matrix":
        dimensions = list(params.get("dimensions") or [])
        out["sentence"] = f"{unit} priced per {', '.join(dimensions)}: each group's units at its row's unit price."
        out["table"] = {
            "headers": [*dimensions, "Unit price"],
            "rows": [
                [*(row["match"].get(name, "") for name in dimensions), money(row["unit_amount"], currency)]
                for row in params.get("rows") or []
            ],
        }
        default = params.get("default_unit_amount")
        out["notes"].append(
            f"Any other group: {money(default, currency)} per unit." if default is not None
            else "A group with no row cannot be rated (no default unit price)."
        )  # fmt: skip
    if charge.included_units:
        out["notes"].append(f"First {plain(charge.included_units)} units included.")
    if charge.minimum_amount is not None:
        out["notes"].append(f"Minimum {money(charge.minimum_amount, currency)} a period.")
    if charge.maximum_amount is not None:
        out["notes"].append(f"Capped at {money(charge.maximum_amount, currency)} a period.")
    out["notes"].append("Billed in advance." if charge.timing == "in_advance" else "Billed in arrears.")
    return out


def describe_feature(line) -> str:
    feature = line.feature
    if feature.kind == Feature.Kind.LIMIT:
        if line.limit == Feature.UNLIMITED:
            return "unlimited"
        if line.limit in (None, Feature.NO_ACCESS):
            return "no access"
        return f"up to {plain(line.limit)} ({line.enforcement} limit)"
    if feature.kind == Feature.Kind.BOOLEAN:
        return "enabled" if line.enabled else "disabled"
    return line.value or "—"


def charge_content(charge: Charge) -> dict:
    """An existing charge in the shape the services take (to rewrite a draft's charge list)."""
    return {
        "metric": charge.metric,
        "model": charge.model,
        "params": charge.properties,
        "included_units": charge.included_units,
        "minimum_amount": charge.minimum_amount,
        "maximum_amount": charge.maximum_amount,
        "timing": charge.timing,
        "description": charge.description,
    }


# The quantity the charge form's live price example starts with (the merchant types another).
EXAMPLE_UNITS = Decimal("1000")


def price_example(charge: Charge, units: Decimal) -> str:
    """What the rating engine bills for ``units``, as a sentence: "1,000 units cost 12.50 USD."

    static/js/tier-editor.js computes the same sentence live in the browser.
    Matrix charges are priced per group and percentage charges per event too, so the example is of
    the models one quantity prices. The minimum's true-up is billed as its own line: said apart.
    """
    currency = charge.plan_version.currency
    if charge.model == "matrix":
        return "No example: a matrix charge is priced per group."
    try:
        result = charge.priced(currency).rate(units)
    except (rating.ChargeParamsError, rating.RatingError, InvalidOperation):
        return ""
    text = f"{plain(units)} units cost {money(result.amount, currency)}"
    if result.uncapped_amount is not None and result.amount < result.uncapped_amount:
        text += f" (capped at {money(charge.maximum_amount, currency)})"
    text += "."
    if result.minimum_true_up:
        minimum, true_up = money(charge.minimum_amount, currency), money(result.minimum_true_up, currency)
        text += f" The minimum of {minimum} adds {true_up}."
    return text


# --- pages -------------------------------------------------------------------------------------------------------


class PlanListView(MerchantPageMixin, TemplateView):
    template_name = "catalog/plan_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        plans = plans_with_subscribers(self.scoped(Plan).order_by("archived_at", "code"), at=timezone.now())
        context["rows"] = [{"plan": plan, "latest": plan_version_latest(plan=plan),
                            "published": _latest_published(plan), **_subscribers(plan)} for plan in plans]  # fmt: skip
        context.setdefault("form", PlanCreateForm())
        return context

    def post(self, request):
        form = PlanCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                plan = services.plan_create(
                    merchant=request.merchant, code=data["code"], name=data["name"],
                    content={"currency": data["currency"]},
                )  # fmt: skip
            except ValidationError as exc:
                service_errors_to_form(form, exc.detail)
            else:
                messages.success(request, f"Plan {plan.code} created as a draft.")
                return redirect("cockpit:plan", code=plan.code)
        return self.render_to_response(self.get_context_data(form=form), status=400)


def _latest_published(plan: Plan) -> PlanVersion | None:
    published = [version for version in plan.versions.all() if version.is_published]
    return max(published, key=lambda version: version.version) if published else None


def _subscribers(plan: Plan) -> dict:
    """Active subscriptions of the plan: in all, and per version that has any (newest first)."""
    versions = sorted(plan.versions.all(), key=lambda version: version.version, reverse=True)
    return {
        "subscribers": sum(version.active_subscriptions for version in versions),
        "subscribers_by_version": [
            (version.version, version.active_subscriptions) for version in versions if version.active_subscriptions
        ],
    }


class _PlanMixin:
    def plan(self, code: str) -> Plan:
        return get_object_or_404(plans_with_subscribers(self.scoped(Plan), at=timezone.now()), code=code)

    def draft(self, plan: Plan) -> PlanVersion:
        draft = plan_version_latest(plan=plan)
        if draft.is_published:
            raise _NoDraft(plan)
        return draft


class _NoDraft(Exception):
    def __init__(self, plan: Plan):
        self.plan = plan


def _no_draft(request, plan: Plan):
    messages.error(request, f"Plan {plan.code} has no draft: start a new version to change it.")
    return redirect("cockpit:plan", code=plan.code)


class PlanDetailView(_PlanMixin, MerchantPageMixin, TemplateView):
    """A plan's versions; one version's content (the latest unless ``?version=``); the draft's forms."""

    template_name = "catalog/plan_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        plan = kwargs.get("plan") or self.plan(self.kwargs["code"])
        versions = sorted(plan.versions.all(), key=lambda version: version.version, reverse=True)
        version = versions[0]
        wanted = self.request.GET.get("version")
        if wanted:
            version = next((candidate for candidate in versions if str(candidate.version) == wanted), None)
            if version is None:
                raise Http404("No such version")
        currency = version.currency
        context.update(
            plan=plan,
            versions=versions,
            version=version,
            latest=versions[0],
            is_latest=version.pk == versions[0].pk,
            subscribers=_subscribers(plan)["subscribers"],
            base_fee=money(version.base_fee, currency),
            charges=[describe_charge(charge, currency) for charge in version.charges.all()],
            features=[{"line": line, "text": describe_feature(line)} for line in version.plan_features.all()],
            fees=[{"name": fee.name, "amount": money(fee.amount, currency)} for fee in version.one_time_fees.all()],
        )
        editable = not version.is_published and plan.archived_at is None and context["is_latest"]
        context["editable"] = editable
        if editable:
            context.setdefault("form", kwargs.get("form") or PlanVersionForm.for_version(version))
        return context

    def post(self, request, code):
        """Save the plan's name and description and the draft's base fields."""
        plan = self.plan(code)
        try:
            draft = self.draft(plan)
        except _NoDraft:
            return _no_draft(request, plan)
        form = PlanVersionForm.for_version(draft, request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.plan_update(plan=plan, name=data["name"], description=data["description"],
                                     changes=form.changes())  # fmt: skip
            except ValidationError as exc:
                service_errors_to_form(form, exc.detail)
            except Conflict as exc:
                messages.error(request, str(exc.detail))
                return redirect("cockpit:plan", code=plan.code)
            else:
                messages.success(request, f"Draft v{draft.version} saved.")
                return redirect("cockpit:plan", code=plan.code)
        return self.render_to_response(self.get_context_data(plan=plan, form=form), status=400)


class ChargeEditView(_PlanMixin, MerchantEditMixin, TemplateView):
    """Add a charge to the draft (no ``index``) or change the charge at ``index``."""

    template_name = "catalog/charge_form.html"

    def _setup(self, code: str, index: int | None):
        plan = self.plan(code)
        draft = self.draft(plan)
        charges = list(draft.charges.all())
        if index is not None and not 0 <= index < len(charges):
            raise Http404("No such charge")
        return plan, draft, charges

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except _NoDraft as exc:
            return _no_draft(request, exc.plan)

    def get(self, request, code, index=None):
        plan, draft, charges = self._setup(code, index)
        initial = ChargeForm.initial_for(charges[index]) if index is not None else {}
        form = ChargeForm(initial=initial, merchant=request.merchant)
        example = price_example(charges[index], EXAMPLE_UNITS) if index is not None else ""
        return self.render_to_response(self._context(plan, draft, index, form, example=example))

    def post(self, request, code, index=None):
        plan, draft, charges = self._setup(code, index)
        form = ChargeForm(request.POST, merchant=request.merchant)
        action = request.POST.get("band_action", "")
        if action:
            # The tier editor without JavaScript: add or remove a row, and show the form again unsaved.
            rows = form.band_rows()
            if action == "add":
                rows.append(dict.fromkeys(BAND_COLUMNS, ""))
            elif action.startswith("remove-") and action[7:].isdigit() and int(action[7:]) < len(rows):
                rows.pop(int(action[7:]))
            return self.render_to_response(self._context(plan, draft, index, form, rows=rows))
        if form.is_valid():
            content = [charge_content(charge) for charge in charges]
            position = len(content) if index is None else index
            if index is None:
                content.append(form.charge())
            else:
                content[index] = form.charge()
            try:
                services.plan_update(plan=plan, changes={"charges": content})
            except ValidationError as exc:
                service_errors_to_form(form, exc.detail, prefix=f"charges[{position}].")
            except Conflict as exc:
                messages.error(request, str(exc.detail))
                return redirect("cockpit:plan", code=plan.code)
            else:
                verb = "added" if index is None else "saved"
                messages.success(request, f"Charge on {form.cleaned_data['metric'].code} {verb}.")
                return redirect("cockpit:plan", code=plan.code)
        return self.render_to_response(self._context(plan, draft, index, form), status=400)

    def _context(self, plan, draft, index, form, *, rows=None, example=""):
        rows = form.band_rows() if rows is None else rows
        return self.get_context_data(
            plan=plan,
            draft=draft,
            index=index,
            form=form,
            model_fields=MODEL_FIELDS,
            base_fields=[form[name] for name in form.fields if name not in PARAMETER_FIELDS],
            param_fields=[form[name] for name in PARAMETER_FIELDS if name != "bands"],
            band_rows=rows or [dict.fromkeys(BAND_COLUMNS, "")],
            band_columns=BAND_COLUMNS,
            band_columns_of=BAND_COLUMNS_OF,
            places=minor_units(draft.currency),
            example_units=EXAMPLE_UNITS,
            example=example,
        )


class ChargeRemoveView(_PlanMixin, MerchantPageMixin, View):
    def post(self, request, code, index):
        plan = self.plan(code)
        try:
            draft = self.draft(plan)
        except _NoDraft:
            return _no_draft(request, plan)
        charges = list(draft.charges.all())
        if not 0 <= index < len(charges):
            raise Http404("No such charge")
        removed = charges.pop(index)
        try:
            services.plan_update(plan=plan, changes={"charges": [charge_content(charge) for charge in charges]})
        except (ValidationError, Conflict) as exc:
            messages.error(request, _message(exc))
        else:
            messages.success(request, f"Charge on {removed.metric.code} removed.")
        return redirect("cockpit:plan", code=plan.code)


class PlanPublishView(_PlanMixin, MerchantEditMixin, TemplateView):
    """Publishing asks first: the page says what the version freezes, and its form publishes."""

    template_name = "catalog/plan_publish.html"

    def get(self, request, code):
        plan = self.plan(code)
        try:
            draft = self.draft(plan)
        except _NoDraft:
            return _no_draft(request, plan)
        charges = list(draft.charges.all())
        lines = list(draft.plan_features.all())
        metrics = {charge.metric.code: charge.metric for charge in charges}
        metrics.update({line.feature.metric.code: line.feature.metric for line in lines if line.feature.metric_id})
        return self.render_to_response(self.get_context_data(
            plan=plan, draft=draft, base_fee=money(draft.base_fee, draft.currency), charges=charges,
            features=lines, fees=list(draft.one_time_fees.all()), metrics=sorted(metrics.values(), key=str),
            limit_features=[line.feature for line in lines if line.feature.kind == Feature.Kind.LIMIT],
        ))  # fmt: skip

    def post(self, request, code):
        plan = self.plan(code)
        try:
            version = services.plan_publish(plan=plan)
        except (ValidationError, Conflict) as exc:
            messages.error(request, _message(exc))
        else:
            messages.success(request, f"Version {version.version} of {plan.code} published.")
        return redirect("cockpit:plan", code=plan.code)


class PlanNewVersionView(_PlanMixin, MerchantPageMixin, View):
    def post(self, request, code):
        plan = self.plan(code)
        try:
            version = services.plan_version_create(plan=plan)
        except Conflict as exc:
            messages.error(request, _message(exc))
        else:
            messages.success(request, f"Draft version {version.version} started from the latest version.")
        return redirect("cockpit:plan", code=plan.code)


def _message(exc) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        return "; ".join(
            f"{key}: {' '.join(str(item) for item in (value if isinstance(value, list) else [value]))}"
            for key, value in detail.items()
        )
    return str(detail)
