from django.urls import path

from customers.rules import views

urlpatterns = [
    path("billing-rules/", views.BillingRulesView.as_view(), name="billing-rules"),
    path("billing-rules/customer/", views.CustomerWindowView.as_view(), name="billing-rules-customer"),
    path("billing-rules/<int:pk>/", views.BillingRuleDetailView.as_view(), name="billing-rule"),
    path("billing-rules/<int:pk>/delete/", views.BillingRuleDeleteView.as_view(), name="billing-rule-delete"),
]
