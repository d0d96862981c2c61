"""Cockpit pages that edit a draft's features and one-time fees, one line at a time.

Each line is validated by the API's serializer for it; the whole list is then written by
``services.plan_update``, which validates the version as a whole, as a PATCH does.
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views.generic import TemplateView, View
from rest_framework.exceptions import ValidationError

from atlas.api.exceptions import Conflict
from atlas.tenancy import MerchantEditMixin, MerchantPageMixin
from catalog import services
from catalog.forms import OneTimeFeeForm, PlanFeatureForm, serializer_errors_to_form, service_errors_to_form
from catalog.models import Feature
from catalog.serializers import OneTimeFeeInputSerializer, PlanFeatureInputSerializer
from catalog.views.plans import _message, _no_draft, _NoDraft, _PlanMixin, plain

# --- a draft's features and one-time fees ------------------------------------------------------------------------


def plan_feature_content(line) -> dict:
    return {"feature": line.feature, "limit": line.limit, "enabled": line.enabled, "value": line.value,
            "enforcement": line.enforcement}  # fmt: skip


def fee_content(fee) -> dict:
    return {"name": fee.name, "amount": fee.amount}


class _DraftLineView(_PlanMixin, MerchantEditMixin, TemplateView):
    """Add one line to a draft's list (no ``index``) or change the line at ``index``.

    The line is validated by the API's serializer for it, then the whole list is written by
    ``services.plan_update``, which validates the version as a whole (as a PATCH does).
    """

    template_name = "catalog/line_form.html"
    content_key = ""  # "features" or "one_time_fees"
    noun = ""
    serializer_class = None

    def lines(self, draft) -> list:
        raise NotImplementedError

    def content(self, line) -> dict:
        raise NotImplementedError

    def make_form(self, data, draft, line):
        raise NotImplementedError

    def duplicate(self, attrs, lines, index) -> str:
        return ""

    def label(self, attrs) -> str:
        raise NotImplementedError

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except _NoDraft as exc:
            return _no_draft(request, exc.plan)

    def _setup(self, code: str, index: int | None):
        plan = self.plan(code)
        draft = self.draft(plan)
        lines = self.lines(draft)
        if index is not None and not 0 <= index < len(lines):
            raise Http404("No such line")
        return plan, draft, lines

    def get(self, request, code, index=None):
        plan, draft, lines = self._setup(code, index)
        form = self.make_form(None, draft, lines[index] if index is not None else None)
        return self.render_to_response(self._context(plan, draft, index, form))

    def post(self, request, code, index=None):
        plan, draft, lines = self._setup(code, index)
        form = self.make_form(request.POST, draft, lines[index] if index is not None else None)
        if form.is_valid():
            serializer = self.serializer_class(data=form.payload(), context={"merchant": request.merchant})
            if not serializer.is_valid():
                serializer_errors_to_form(form, serializer.errors)
            elif message := self.duplicate(serializer.validated_data, lines, index):
                form.add_error("feature", message)
            else:
                content = [self.content(line) for line in lines]
                position = len(content) if index is None else index
                if index is None:
                    content.append(serializer.validated_data)
                else:
                    content[index] = serializer.validated_data
                try:
                    services.plan_update(plan=plan, changes={self.content_key: content})
                except ValidationError as exc:
                    service_errors_to_form(form, exc.detail, prefix=f"{self.content_key}[{position}].")
                except Conflict as exc:
                    messages.error(request, str(exc.detail))
                    return redirect("cockpit:plan", code=plan.code)
                else:
                    verb = "added" if index is None else "saved"
                    messages.success(request, f"{self.label(serializer.validated_data)} {verb}.")
                    return redirect("cockpit:plan", code=plan.code)
        return self.render_to_response(self._context(plan, draft, index, form), status=400)

    def _context(self, plan, draft, index, form):
        return self.get_context_data(plan=plan, draft=draft, index=index, form=form, noun=self.noun,
                                     feature_kinds=getattr(form, "kinds", None))  # fmt: skip


class PlanFeatureEditView(_DraftLineView):
    content_key = "features"
    noun = "feature"
    serializer_class = PlanFeatureInputSerializer

    def lines(self, draft):
        return list(draft.plan_features.all())

    def content(self, line):
        return plan_feature_content(line)

    def make_form(self, data, draft, line):
        features = list(self.scoped(Feature).select_related("metric").order_by("key"))
        return PlanFeatureForm(data, features=features, line=line)

    def duplicate(self, attrs, lines, index):
        for position, line in enumerate(lines):
            if line.feature_id == attrs["feature"].pk and position != index:
                return f"{attrs['feature'].key!r} is already in this draft: edit its line instead"
        return ""

    def label(self, attrs):
        return f"Feature {attrs['feature'].key}"


class OneTimeFeeEditView(_DraftLineView):
    content_key = "one_time_fees"
    noun = "one-time fee"
    serializer_class = OneTimeFeeInputSerializer

    def lines(self, draft):
        return list(draft.one_time_fees.all())

    def content(self, line):
        return fee_content(line)

    def make_form(self, data, draft, line):
        initial = {"name": line.name, "amount": plain(line.amount).replace(",", "")} if line is not None else None
        return OneTimeFeeForm(data, initial=initial)

    def label(self, attrs):
        return f"One-time fee {attrs['name']}"


class _DraftLineRemoveView(_PlanMixin, MerchantPageMixin, View):
    content_key = ""
    lines = staticmethod(lambda draft: [])
    content = staticmethod(lambda line: {})
    describe = staticmethod(lambda line: "")

    def post(self, request, code, index):
        plan = self.plan(code)
        try:
            draft = self.draft(plan)
        except _NoDraft:
            return _no_draft(request, plan)
        lines = self.lines(draft)
        if not 0 <= index < len(lines):
            raise Http404("No such line")
        removed = lines.pop(index)
        try:
            services.plan_update(plan=plan, changes={self.content_key: [self.content(line) for line in lines]})
        except (ValidationError, Conflict) as exc:
            messages.error(request, _message(exc))
        else:
            messages.success(request, f"{self.describe(removed)} removed.")
        return redirect("cockpit:plan", code=plan.code)


class PlanFeatureRemoveView(_DraftLineRemoveView):
    content_key = "features"
    lines = staticmethod(lambda draft: list(draft.plan_features.all()))
    content = staticmethod(plan_feature_content)
    describe = staticmethod(lambda line: f"Feature {line.feature.key}")


class OneTimeFeeRemoveView(_DraftLineRemoveView):
    content_key = "one_time_fees"
    lines = staticmethod(lambda draft: list(draft.one_time_fees.all()))
    content = staticmethod(fee_content)
    describe = staticmethod(lambda line: f"One-time fee {line.name}")
