"""Cockpit pages that belong to the tenancy: API keys, merchant settings."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import TemplateView, View

from atlas.forms import ApiKeyForm, MerchantSettingsForm
from atlas.models import ApiKey, Merchant
from atlas.services import api_key_create, api_key_revoke, merchant_update
from atlas.tenancy import MerchantPageMixin


class ApiKeyListView(MerchantPageMixin, TemplateView):
    template_name = "atlas/api_keys.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["keys"] = self.scoped(ApiKey).select_related("created_by")
        context["form"] = kwargs.get("form") or ApiKeyForm()
        return context

    def post(self, request):
        form = ApiKeyForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        key, secret = api_key_create(merchant=request.merchant, name=form.cleaned_data["name"], created_by=request.user)
        # The secret is rendered once, in this response, and never again.
        return self.render_to_response(self.get_context_data(new_key=key, new_secret=secret), status=201)


class ApiKeyRevokeView(MerchantPageMixin, View):
    def post(self, request, pk):
        key = get_object_or_404(self.scoped(ApiKey), pk=pk)
        api_key_revoke(key=key)
        messages.success(request, f"API key {key.prefix}… revoked.")
        return redirect("cockpit:api-keys")


class SettingsView(MerchantPageMixin, TemplateView):
    """Merchant settings: billing day, grace hours, invoice prefix, tax rate, company details."""

    template_name = "atlas/settings.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = kwargs.get("form") or MerchantSettingsForm(instance=self.request.merchant)
        return context

    def post(self, request):
        form = MerchantSettingsForm(request.POST, instance=Merchant.objects.get(pk=request.merchant.pk))
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        merchant_update(merchant=request.merchant, **{name: form.cleaned_data[name] for name in form.changed_data})
        messages.success(request, "Settings saved.")
        return redirect("cockpit:settings")
