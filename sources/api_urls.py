"""The sources API routes, included under /api/v1/ (with and without the final slash)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from sources.api import SourceViewSet


class _OptionalSlashRouter(SimpleRouter):
    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = _OptionalSlashRouter()
router.register("generation/sources", SourceViewSet, basename="source")
urlpatterns = router.urls
