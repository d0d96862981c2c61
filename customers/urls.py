from django.urls import path

from customers import views

urlpatterns = [
    path("customers/", views.CustomerListView.as_view(), name="customers"),
]
