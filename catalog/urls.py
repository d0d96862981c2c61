"""Cockpit pages of this app (the cockpit namespace)."""

from django.urls import path

from catalog import views

urlpatterns = [
    path("metrics/", views.MetricListView.as_view(), name="metrics"),
    path("metrics/<str:code>/", views.MetricDetailView.as_view(), name="metric"),
    path("features/", views.FeatureListView.as_view(), name="features"),
    path("features/<str:key>/", views.FeatureDetailView.as_view(), name="feature"),
    path("plans/", views.PlanListView.as_view(), name="plans"),
    path("plans/<str:code>/", views.PlanDetailView.as_view(), name="plan"),
    path("plans/<str:code>/charges/new/", views.ChargeEditView.as_view(), name="plan-charge-add"),
    path("plans/<str:code>/charges/<int:index>/", views.ChargeEditView.as_view(), name="plan-charge-edit"),
    path("plans/<str:code>/charges/<int:index>/remove/", views.ChargeRemoveView.as_view(), name="plan-charge-remove"),
    path("plans/<str:code>/features/new/", views.PlanFeatureEditView.as_view(), name="plan-feature-add"),
    path("plans/<str:code>/features/<int:index>/", views.PlanFeatureEditView.as_view(), name="plan-feature-edit"),
    path(
        "plans/<str:code>/features/<int:index>/remove/",
        views.PlanFeatureRemoveView.as_view(),
        name="plan-feature-remove",
    ),
    path("plans/<str:code>/fees/new/", views.OneTimeFeeEditView.as_view(), name="plan-fee-add"),
    path("plans/<str:code>/fees/<int:index>/", views.OneTimeFeeEditView.as_view(), name="plan-fee-edit"),
    path("plans/<str:code>/fees/<int:index>/remove/", views.OneTimeFeeRemoveView.as_view(), name="plan-fee-remove"),
    path("plans/<str:code>/publish/", views.PlanPublishView.as_view(), name="plan-publish"),
    path("plans/<str:code>/versions/", views.PlanNewVersionView.as_view(), name="plan-new-version"),
]
