"""Cockpit pages of this app (the cockpit namespace)."""

from django.urls import path

from billing import views, views_customers

urlpatterns: list = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("invoices/", views.InvoiceListView.as_view(), name="invoices"),
    path("invoices/<int:pk>/", views.InvoiceDetailView.as_view(), name="invoice"),
    path("invoices/<int:pk>/pdf/", views.InvoicePdfView.as_view(), name="invoice-pdf"),
    path("invoices/<int:pk>/finalize/", views.InvoiceActionView.as_view(action="finalize"), name="invoice-finalize"),
    path("invoices/<int:pk>/void/", views.InvoiceActionView.as_view(action="void"), name="invoice-void"),
    path("invoices/<int:pk>/mark-paid/", views.InvoiceActionView.as_view(action="mark-paid"), name="invoice-mark-paid"),
    path("invoices/<int:pk>/credit-notes/", views.InvoiceCreditNoteView.as_view(), name="invoice-credit-note"),
    path(
        "invoices/<int:pk>/credit-notes/<int:note_pk>/pdf/",
        views.CreditNotePdfView.as_view(),
        name="credit-note-pdf",
    ),
    path("analytics/", views.AnalyticsView.as_view(), name="analytics"),
    path("exports/", views.ExportsView.as_view(), name="exports"),
    path("exports/download/", views.ExportDownloadView.as_view(), name="export-download"),
    # The customer page (billing/views_customers.py): it composes every app.
    path("customers/<str:external_id>/", views_customers.CustomerDetailView.as_view(), name="customer"),
    path(
        "customers/<str:external_id>/users/",
        views_customers.CustomerUserProvisionView.as_view(),
        name="customer-user-provision",
    ),
    path(
        "customers/<str:external_id>/users/<int:pk>/deprovision/",
        views_customers.CustomerUserDeprovisionView.as_view(),
        name="customer-user-deprovision",
    ),
    path(
        "customers/<str:external_id>/credits/",
        views_customers.CustomerCreditGrantView.as_view(),
        name="customer-credit-grant",
    ),
]
