"""The Team page: members and roles; admins invite, change roles and remove (viewers only read)."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse_lazy
from django.views.generic import TemplateView
from rest_framework.exceptions import ValidationError

from atlas.models import Membership
from atlas.team import services
from atlas.team.forms import InviteForm, RoleForm
from atlas.tenancy import MerchantPageMixin


def _errors(exc: ValidationError) -> dict[str, str]:
    detail = exc.detail if isinstance(exc.detail, dict) else {"__all__": exc.detail}
    return {key: " ".join(map(str, value)) if isinstance(value, list) else str(value) for key, value in detail.items()}


class TeamView(MerchantPageMixin, TemplateView):
    template_name = "atlas/team.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["members"] = self.scoped(Membership).select_related("user").order_by("user__username")
        context["form"] = kwargs.get("form") or InviteForm()
        context["admin_count"] = self.scoped(Membership).filter(role=Membership.Role.ADMIN).count()
        context["roles"] = Membership.Role.choices
        context["member_errors"] = kwargs.get("member_errors") or {}
        return context

    def post(self, request):
        form = InviteForm(request.POST)
        if form.is_valid():
            try:
                invitation = services.member_invite(
                    merchant=request.merchant,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    invited_by=request.user,
                    base_url=request.build_absolute_uri("/"),
                )
            except ValidationError as exc:
                for field, message in _errors(exc).items():
                    form.add_error(field if field in form.fields else None, message)
            else:
                messages.success(request, f"Invitation sent to {invitation.membership.user.email}.")
                return redirect("cockpit:team")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class _MemberView(TeamView):
    """A change to one member; a refusal shows the Team page again with the reason (400), nothing changed."""

    http_method_names = ["post"]

    def membership(self, pk: int) -> Membership:
        return get_object_or_404(self.scoped(Membership).select_related("user"), pk=pk)

    def refuse(self, errors: dict[str, str]):
        return self.render_to_response(self.get_context_data(member_errors=errors), status=400)


class MemberRoleView(_MemberView):
    def post(self, request, pk):
        membership = self.membership(pk)
        form = RoleForm(request.POST)
        if not form.is_valid():
            return self.refuse({"role": " ".join(form.errors["role"])})
        try:
            membership = services.member_role_change(membership=membership, role=form.cleaned_data["role"])
        except ValidationError as exc:
            return self.refuse(_errors(exc))
        messages.success(request, f"{membership.user.email or membership.user.username} is now {membership.role}.")
        return redirect("cockpit:team")


class MemberRemoveView(_MemberView):
    def post(self, request, pk):
        membership = self.membership(pk)
        who = membership.user.email or membership.user.username
        try:
            revoked = services.member_remove(membership=membership)
        except ValidationError as exc:
            return self.refuse(_errors(exc))
        messages.success(request, f"{who} was removed; {revoked} API key(s) they created were revoked.")
        if membership.user_id == request.user.pk:
            return redirect("login")
        return redirect("cockpit:team")


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """The invitation link: choose a password (Django's password-reset token; one use, time-limited)."""

    template_name = "registration/set_password.html"
    success_url = reverse_lazy("login")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "Password set. Log in with your e-mail address and the new password.")
        return response
