"""Faculty pages."""

from django.urls import path

from batches import views

app_name = "batches"

urlpatterns = [
    path("", views.home, name="home"),
    path("batches/", views.batch_list, name="list"),
]
