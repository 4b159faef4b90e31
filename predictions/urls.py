from django.urls import path

from . import views

app_name = "predictions"

urlpatterns = [
    path("images/<int:image_id>/file", views.lesion_image_file, name="lesion-image-file"),
    path("predictions/<int:prediction_id>/heatmap", views.prediction_heatmap, name="prediction-heatmap"),
    path(
        "predictions/<int:prediction_id>/heatmap/<str:class_code>",
        views.prediction_class_heatmap,
        name="prediction-class-heatmap",
    ),
]
