"""Cockpit pages of the billing app (the cockpit namespace), each served by its sub-domain's views."""

from django.urls import path

from billing.credit_notes.views import CreditNotePdfView, InvoiceCreditNoteView
from billing.customer_page import subscriptions as customer_subscriptions
from billing.customer_page import views as customer_views
from billing.dunning.views import DunningView
from billing.imports.views import ImportView
from billing.invoices.views import InvoiceActionView, InvoiceDetailView, InvoiceListView, InvoicePdfView
from billing.payments import views as payment_views
from billing.reports import finance_views
from billing.reports import views as report_views
from billing.statements.views import StatementView

urlpatterns: list = [
    path("", report_views.DashboardView.as_view(), name="dashboard"),
    path("invoices/", InvoiceListView.as_view(), name="invoices"),
    path("invoices/<int:pk>/", InvoiceDetailView.as_view(), name="invoice"),
    path("invoices/<int:pk>/pdf/", InvoicePdfView.as_view(), name="invoice-pdf"),
    path("invoices/<int:pk>/finalize/", InvoiceActionView.as_view(action="finalize"), name="invoice-finalize"),
    path("invoices/<int:pk>/void/", InvoiceActionView.as_view(action="void"), name="invoice-void"),
    path("invoices/<int:pk>/mark-paid/", payment_views.InvoiceMarkPaidView.as_view(), name="invoice-mark-paid"),
    path("invoices/<int:pk>/payments/", payment_views.InvoicePaymentView.as_view(), name="invoice-payment"),
    path("payments/", payment_views.PaymentListView.as_view(), name="payments"),
    path("payments/import/", payment_views.BankImportView.as_view(), name="payment-import"),
    path("payments/<int:pk>/refund/", payment_views.PaymentRefundView.as_view(), name="payment-refund"),
    path(
        "payments/bank/<int:pk>/assign/",
        payment_views.BankTransactionAssignView.as_view(),
        name="bank-transaction-assign",
    ),
    path(
        "payments/bank/<int:pk>/dismiss/",
        payment_views.BankTransactionDismissView.as_view(),
        name="bank-transaction-dismiss",
    ),
    path("invoices/<int:pk>/credit-notes/", InvoiceCreditNoteView.as_view(), name="invoice-credit-note"),
    path(
        "invoices/<int:pk>/credit-notes/<int:note_pk>/pdf/",
        CreditNotePdfView.as_view(),
        name="credit-note-pdf",
    ),
    path("analytics/", report_views.AnalyticsView.as_view(), name="analytics"),
    path("exports/", report_views.ExportsView.as_view(), name="exports"),
    path("exports/download/", report_views.ExportDownloadView.as_view(), name="export-download"),
    path("receivables/", finance_views.ReceivablesView.as_view(), name="receivables"),
    path("receivables/journal/", finance_views.JournalDownloadView.as_view(), name="journal-download"),
    path("dunning/", DunningView.as_view(), name="dunning"),
    # The CSV import page (billing/imports/): customers or subscriptions files; before the customer page's path.
    path("customers/import/", ImportView.as_view(), name="customer-import"),
    # The customer page (billing/customer_page/): it composes every app.
    path("customers/<str:external_id>/", customer_views.CustomerDetailView.as_view(), name="customer"),
    path(
        "customers/<str:external_id>/users/",
        customer_views.CustomerUserProvisionView.as_view(),
        name="customer-user-provision",
    ),
    path(
        "customers/<str:external_id>/users/<int:pk>/deprovision/",
        customer_views.CustomerUserDeprovisionView.as_view(),
        name="customer-user-deprovision",
    ),
    path("customers/<str:external_id>/statement/", StatementView.as_view(), name="customer-statement"),
    path("customers/<str:external_id>/statement/pdf/", StatementView.as_view(pdf=True), name="customer-statement-pdf"),
    path(
        "customers/<str:external_id>/credits/",
        customer_views.CustomerCreditGrantView.as_view(),
        name="customer-credit-grant",
    ),
    path(
        "customers/<str:external_id>/subscribe/",
        customer_subscriptions.SubscribeView.as_view(),
        name="customer-subscribe",
    ),
    path(
        "customers/<str:external_id>/subscriptions/<str:subscription>/change-plan/",
        customer_subscriptions.ChangePlanView.as_view(),
        name="subscription-change-plan",
    ),
    path(
        "customers/<str:external_id>/subscriptions/<str:subscription>/cancel/",
        customer_subscriptions.CancelView.as_view(),
        name="subscription-cancel",
    ),
]
