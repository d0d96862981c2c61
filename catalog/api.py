"""REST routes (filled in by its capability)."""

urlpatterns: list = []
