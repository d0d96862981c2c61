"""Cockpit pages of this app (the cockpit namespace)."""

from django.urls import path

from catalog import views

urlpatterns = [
    path("plans/", views.PlanListView.as_view(), name="plans"),
    path("plans/<str:code>/", views.PlanDetailView.as_view(), name="plan"),
    path("plans/<str:code>/charges/new/", views.ChargeEditView.as_view(), name="plan-charge-add"),
    path("plans/<str:code>/charges/<int:index>/", views.ChargeEditView.as_view(), name="plan-charge-edit"),
    path("plans/<str:code>/charges/<int:index>/remove/", views.ChargeRemoveView.as_view(), name="plan-charge-remove"),
    path("plans/<str:code>/publish/", views.PlanPublishView.as_view(), name="plan-publish"),
    path("plans/<str:code>/versions/", views.PlanNewVersionView.as_view(), name="plan-new-version"),
]
