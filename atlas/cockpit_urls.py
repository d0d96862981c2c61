from django.urls import path

from atlas import views

urlpatterns = [
    path("settings/", views.SettingsView.as_view(), name="settings"),
    path("settings/api-keys/", views.ApiKeyListView.as_view(), name="api-keys"),
    path("settings/api-keys/<int:pk>/revoke/", views.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
]
