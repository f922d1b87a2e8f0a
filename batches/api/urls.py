"""API routes under /api/v1/ (docs/rules.md); every path works with and without its final slash."""

from __future__ import annotations

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from batches.api.views import BatchViewSet, NotFoundView, TokenView


class OptionalSlashRouter(SimpleRouter):
    """Route each viewset path with and without its trailing slash."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


# Swagger UI styles itself with inline <style> elements: allowed on this page only. Its
# scripts stay 'self' (the split view serves its script from a URL of its own).
DOCS_VIEW = csp_update({"style-src": [UNSAFE_INLINE]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

router = OptionalSlashRouter()
router.register("generation/batch", BatchViewSet, basename="batch")

urlpatterns = [
    re_path(r"^auth/token/?$", TokenView.as_view(), name="api-token"),
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="api-schema"),
    re_path(r"^docs/?$", DOCS_VIEW, name="api-docs"),
    *router.urls,
    re_path(r"^", include("sources.api_urls")),
    # Last: anything else under /api/v1/ is a 404 in the envelope, not Django's HTML page.
    re_path(r"", NotFoundView.as_view()),
]
