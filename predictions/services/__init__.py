"""Everything that writes: typed, keyword-only functions, each one transaction with its audit record."""

from .audit import audit_record
from .clinics import clinic_create, membership_create
from .image_batches import ImageBatchResult, image_batch_upload
from .predictions import (
    prediction_claim,
    prediction_class_heatmap_request,
    prediction_class_heatmaps_claim,
    prediction_fail,
    prediction_heatmaps_claim,
    prediction_heatmaps_store,
    prediction_release,
    prediction_retry,
    prediction_run,
    predictions_enqueue_on_commit,
    predictions_sweep,
    worker_heartbeat,
)
from .records import lesion_create, patient_create, patient_update
from .reviews import review_create
from .uploads import image_upload

__all__ = [
    "audit_record",
    "clinic_create",
    "membership_create",
    "patient_create",
    "lesion_create",
    "image_upload",
    "prediction_claim",
    "prediction_run",
    "prediction_heatmaps_store",
    "prediction_fail",
    "prediction_release",
    "predictions_sweep",
    "predictions_enqueue_on_commit",
    "review_create",
    "prediction_heatmaps_claim",
    "worker_heartbeat",
    "patient_update",
    "prediction_retry",
    "image_batch_upload",
    "ImageBatchResult",
    "prediction_class_heatmap_request",
    "prediction_class_heatmaps_claim",
]
