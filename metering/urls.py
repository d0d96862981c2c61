"""Cockpit pages of this app (the cockpit namespace)."""

from django.urls import path

from metering import views

urlpatterns = [
    path("events/", views.EventListView.as_view(), name="events"),
]
