from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from atlas.api.merchant import MerchantView

urlpatterns = [
    path("merchant", MerchantView.as_view(), name="merchant"),
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
]
