"""Cockpit: the CSV import page, for a customers file or a subscriptions file (SPEC §10, §11.1).

Upload → preview (a dry run, with every row error) → confirm (the same stored file, imported). It composes the
customers import and the subscriptions import, so it lives in billing; its address stays ``/customers/import/``.
"""

import uuid

from django.contrib import messages
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.shortcuts import redirect
from django.views.generic import TemplateView

from atlas.api.exceptions import Conflict
from atlas.tenancy import MerchantEditMixin
from billing.display import percent_text
from billing.imports.forms import CUSTOMERS, SUBSCRIPTIONS, ImportConfirmForm, ImportForm
from billing.subscriptions.csv_import import is_subscriptions_file, subscriptions_import
from customers.csv_import import customers_import

PREVIEW_CHANGES = 200
LINKED = 200  # customers linked after an import; the customer list has the rest
SESSION_KEY = "customer_import_tokens"
RESULT_KEY = "customer_import_result"
IMPORTERS = {CUSTOMERS: customers_import, SUBSCRIPTIONS: subscriptions_import}


def _cell(name: str, value) -> str:
    """An old or new value of the preview, for people: a tax rate also as a percentage, blank and none said."""
    if value is None:
        return "(none)"
    if value == "" or value == {}:
        return "(empty)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in value.items())
    if name == "tax_rate":
        return f"{value} ({percent_text(value)} %)"
    return str(value)


def _with_diff(change: dict) -> dict:
    """A customers preview row with ``diff``: (field, old, new) of every changed cell."""
    values = change.get("values") or {}
    diff = [(name, _cell(name, value["old"]), _cell(name, value["new"])) for name, value in values.items()]
    return {**change, "diff": diff}


class ImportView(MerchantEditMixin, TemplateView):
    """Upload → preview (a dry run, with every row error) → confirm (the same file, imported)."""

    template_name = "customers/import.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", ImportForm())
        return context

    def get(self, request, *args, **kwargs):
        # What the last import did, once, after its redirect: the customers it names, each linked.
        return self.render_to_response(self.get_context_data(done=request.session.pop(RESULT_KEY, None)))

    def post(self, request):
        if "token" in request.POST:
            return self._confirm(request)
        form = ImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        data = form.cleaned_data["file"].read()
        kind = form.cleaned_data["kind"] or (SUBSCRIPTIONS if is_subscriptions_file(data) else CUSTOMERS)
        report = IMPORTERS[kind](merchant=request.merchant, data=data, dry_run=True)
        context = {
            "form": ImportForm(),
            "kind": kind,
            "report": report,
            "filename": form.cleaned_data["file"].name,
            "changes": [_with_diff(change) for change in report.changes[:PREVIEW_CHANGES]],
            "more_changes": max(0, len(report.changes) - PREVIEW_CHANGES),
            "errors": report.errors[:1000],
        }
        if report.ok:
            token = uuid.uuid4().hex
            default_storage.save(self._path(token, kind), ContentFile(data))
            request.session[SESSION_KEY] = [*request.session.get(SESSION_KEY, [])[-4:], token]
            context["confirm_form"] = ImportConfirmForm(initial={"token": token})
        return self.render_to_response(self.get_context_data(**context), status=200 if report.ok else 400)

    def _confirm(self, request):
        form = ImportConfirmForm(request.POST)
        tokens = request.session.get(SESSION_KEY, [])
        if not form.is_valid() or form.cleaned_data["token"] not in tokens:
            messages.error(request, "This preview has expired; upload the file again.")
            return redirect("cockpit:customer-import")
        token = form.cleaned_data["token"]
        # The kind previewed is where the file was stored: the server remembers it, the form does not carry it.
        stored = [(kind, self._path(token, kind)) for kind in IMPORTERS]
        kind, path = next(((kind, path) for kind, path in stored if default_storage.exists(path)), (None, None))
        if kind is None:
            messages.error(request, "This preview has expired; upload the file again.")
            return redirect("cockpit:customer-import")
        with default_storage.open(path, "rb") as stored:
            data = stored.read()
        try:
            report = IMPORTERS[kind](merchant=request.merchant, data=data, dry_run=False)
        except Conflict as exc:
            messages.error(request, str(exc.detail))
            return redirect("cockpit:customer-import")
        default_storage.delete(path)
        request.session[SESSION_KEY] = [t for t in tokens if t != token]
        if not report.ok:
            # The records changed between preview and confirm: show the new errors.
            context = {"kind": kind, "report": report, "errors": report.errors[:1000], "changes": []}
            return self.render_to_response(self.get_context_data(**context), status=400)
        if kind == SUBSCRIPTIONS:
            done = f"{report.created} subscriptions created, {report.unchanged} unchanged."
        else:
            done = f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged."
        messages.success(request, f"Imported {report.rows} rows: {done}")
        if kind == SUBSCRIPTIONS:
            named = [change["customer"] for change in report.changes]
        else:
            named = report.imported
        unique = list(dict.fromkeys(named))
        request.session[RESULT_KEY] = {"kind": kind, "customers": unique[:LINKED], "more": max(0, len(unique) - LINKED)}
        return redirect("cockpit:customer-import")

    def _path(self, token: str, kind: str) -> str:
        # The merchant is part of the path: a token never opens another merchant's upload.
        folder = "customer-imports" if kind == CUSTOMERS else "subscription-imports"
        return f"{folder}/{self.request.merchant.pk}/{token}.csv"
