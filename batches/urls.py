"""Faculty pages (docs/rules.md)."""

from django.urls import path

from batches import blueprint_views, review_views, views

app_name = "batches"

urlpatterns = [
    path("", views.home, name="home"),
    path("batches/", views.batch_list, name="list"),
    path("batches/new/", views.batch_create, name="create"),
    path("batches/new/estimate/", views.batch_estimate, name="estimate"),
    path("batches/<uuid:pk>/", views.batch_detail, name="detail"),
    path("batches/<uuid:pk>/pause/", views.batch_pause, name="pause"),
    path("batches/<uuid:pk>/resume/", views.batch_resume, name="resume"),
    path("batches/<uuid:pk>/retry-failed/", views.batch_retry_failed, name="retry-failed"),
    path("batches/<uuid:pk>/cancel/", views.batch_cancel, name="cancel"),
    path("batches/<uuid:pk>/fill-gaps/", blueprint_views.batch_fill_gaps, name="fill-gaps"),
    path("batches/<uuid:pk>/export/", views.batch_export, name="export"),
    # The review workspace (issue 13).
    path("batches/<uuid:pk>/review/", review_views.review_workspace, name="review"),
    path(
        "batches/<uuid:pk>/review/items/<int:item_id>/decide/",
        review_views.review_decide,
        name="review-decide",
    ),
    path(
        "batches/<uuid:pk>/review/items/<int:item_id>/edit/",
        review_views.review_edit,
        name="review-edit",
    ),
    path(
        "batches/<uuid:pk>/review/items/<int:item_id>/regenerate/",
        review_views.review_regenerate,
        name="review-regenerate",
    ),
    path(
        "batches/<uuid:pk>/review/items/<int:item_id>/restore/",
        review_views.review_restore,
        name="review-restore",
    ),
    path(
        "batches/<uuid:pk>/review/approve/", review_views.review_bulk_approve, name="review-approve"
    ),
]
