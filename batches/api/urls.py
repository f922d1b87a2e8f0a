"""API routes under /api/v1/ (filled in by the control-API issue)."""

urlpatterns: list = []
