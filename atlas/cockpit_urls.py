from django.urls import path

from atlas import views
from atlas.audit import views as audit_views
from atlas.team import views as team_views

urlpatterns = [
    path("settings/", views.SettingsView.as_view(), name="settings"),
    path("settings/api-keys/", views.ApiKeyListView.as_view(), name="api-keys"),
    path("settings/api-keys/<int:pk>/revoke/", views.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
    path("team/", team_views.TeamView.as_view(), name="team"),
    path("team/<int:pk>/role/", team_views.MemberRoleView.as_view(), name="team-role"),
    path("team/<int:pk>/remove/", team_views.MemberRemoveView.as_view(), name="team-remove"),
    path("audit-log/", audit_views.AuditLogView.as_view(), name="audit-log"),
]
