"""The course-material pages, under /sources/."""

from django.urls import path

from sources import views

app_name = "sources"

urlpatterns = [
    path("", views.source_list, name="list"),
    path("<uuid:pk>/", views.source_detail, name="detail"),
    path("<uuid:pk>/delete/", views.source_delete, name="delete"),
]
