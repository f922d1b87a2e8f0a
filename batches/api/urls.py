"""API routes under /api/v1/ (CONTRACT §5); every path works with and without its final slash."""

from __future__ import annotations

from django.urls import re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from batches.api.views import BatchViewSet, NotFoundView, TokenView


class OptionalSlashRouter(SimpleRouter):
    """Route each viewset path with and without its trailing slash."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("generation/batch", BatchViewSet, basename="batch")

urlpatterns = [
    re_path(r"^auth/token/?$", TokenView.as_view(), name="api-token"),
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="api-schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    *router.urls,
    # Last: anything else under /api/v1/ is a 404 in the envelope, not Django's HTML page.
    re_path(r"", NotFoundView.as_view()),
]
