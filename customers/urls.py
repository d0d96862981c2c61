from django.urls import path

from customers import views

urlpatterns = [
    path("customers/", views.CustomerListView.as_view(), name="customers"),
    # Before the customer page's ``customers/<external_id>/`` (billing/urls.py): a customer whose external id is
    # "new" is still reached through the API and the list's search, not at this address.
    path("customers/new/", views.CustomerCreateView.as_view(), name="customer-new"),
    path("customers/<str:external_id>/edit/", views.CustomerEditView.as_view(), name="customer-edit"),
    path("customers/<str:external_id>/archive/", views.CustomerArchiveView.as_view(), name="customer-archive"),
]
