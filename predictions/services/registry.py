"""The model registry: which model versions exist, and which one the workers run.

The registry is system-wide (every clinic runs the same model), so it is operated by superusers and by
management commands (actor None: the system), never by a clinic role.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .. import permissions
from ..models import ModelVersion, Prediction, PredictionStatus
from ..models.audit import AuditAction
from .audit import audit_record
from .predictions import predictions_enqueue_on_commit


def _read_model_dir(model_dir: Path) -> dict:
    from mlcore.errors import ModelError
    from mlcore.modeldir import CARD_FILE, METRICS_FILE, read_config, weights_checksum

    try:
        config = read_config(model_dir)
    except ModelError as exc:
        raise ValidationError({"model_dir": str(exc)}) from exc
    checksum = weights_checksum(model_dir)
    declared = config.get("weights_sha256")
    if declared and declared != checksum:
        raise ValidationError(
            {
                "model_dir": f"{model_dir}: the weights do not match the SHA-256 in config.json "
                f"({checksum[:12]}… on disk, {declared[:12]}… declared)."
            }
        )
    metrics_path, card_path = model_dir / METRICS_FILE, model_dir / CARD_FILE
    try:
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    except json.JSONDecodeError as exc:
        raise ValidationError({"model_dir": f"{metrics_path}: invalid JSON ({exc})"}) from exc
    return {
        "config": config,
        "checksum": checksum,
        "metrics": metrics,
        "model_card": card_path.read_text() if card_path.is_file() else "",
    }


@transaction.atomic
def model_version_register(
    *, actor, model_dir: str | Path | None = None, activate: bool = False
) -> tuple[ModelVersion, bool]:
    """Record a model directory in the registry; returns (version, created).

    `model_dir` None registers the model shipped in mlcore. Registering the same name:version with the
    same weights again returns the existing row; with other weights it is refused (a version names one
    set of parameters). The first version registered becomes active, so the registry always has one.
    """
    from mlcore.modeldir import SHIPPED_MODEL_DIR

    permissions.require(actor, "model_registry.change")
    path = Path(model_dir).resolve() if model_dir else SHIPPED_MODEL_DIR
    found = _read_model_dir(path)
    config = found["config"]
    name, version = str(config["name"]), str(config["version"])
    existing = ModelVersion.objects.filter(name=name, version=version).first()
    if existing is not None:
        if existing.checksum != found["checksum"]:
            raise ValidationError(
                {
                    "model_dir": f"{name}:{version} is already registered with other weights "
                    f"(SHA-256 {existing.checksum[:12]}…); "
                    "give the new model a new version."
                }
            )
        if activate and not existing.is_active:
            existing = model_version_activate(actor=actor, model_version=existing)
        return existing, False
    stored_dir = "" if path == SHIPPED_MODEL_DIR.resolve() else str(path)
    model_version = ModelVersion(
        name=name,
        version=version,
        checksum=found["checksum"],
        model_dir=stored_dir,
        metrics=found["metrics"],
        model_card=found["model_card"],
        config=config,
        registered_by=actor,
    )
    model_version.full_clean(exclude=["identifier"])
    model_version.save()
    audit_record(
        actor=actor,
        clinic=None,
        action=AuditAction.MODEL_VERSION_REGISTER,
        target=model_version,
        data={"identifier": model_version.identifier, "checksum": model_version.checksum, "model_dir": str(path)},
    )
    if activate or not ModelVersion.objects.active().exists():
        model_version = model_version_activate(actor=actor, model_version=model_version)
    return model_version, True


@transaction.atomic
def model_version_activate(*, actor, model_version: ModelVersion) -> ModelVersion:
    """Make `model_version` the one the workers run, in place of the active one.

    The weights on disk must still match the registered checksum. Stored results are not touched: the
    re-run (services.reruns.predictions_rerun) adds the new version's predictions beside them.
    Predictions still queued for another version have no result yet; they move to the new version (or,
    where the image already has one, are failed as superseded) and are sent to the workers again.
    """
    permissions.require(actor, "model_registry.change")
    from mlcore.modeldir import weights_checksum

    # Lock the registry so two activations cannot both find "no other active version".
    rows = list(ModelVersion.objects.select_for_update().order_by("id"))
    locked = next((row for row in rows if row.pk == model_version.pk), None)
    if locked is None:
        raise ValidationError("That model version is not registered.")
    model_version = locked  # the row as locked, from here on
    path = model_version.files_dir
    try:
        on_disk = weights_checksum(path)
    except OSError as exc:
        raise ValidationError({"model_dir": f"{path}: the weights cannot be read ({exc})."}) from exc
    if on_disk != model_version.checksum:
        raise ValidationError(
            {
                "model_dir": f"{path}: the weights changed since registration "
                f"(SHA-256 {on_disk[:12]}…, registered {model_version.checksum[:12]}…)."
            }
        )
    previous = next((row for row in rows if row.is_active), None)
    if previous is not None and previous.pk == model_version.pk:
        return model_version
    now = timezone.now()
    if previous is not None:
        ModelVersion.objects.filter(pk=previous.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=model_version.pk).update(is_active=True, activated_at=now, activated_by=actor)
    model_version.refresh_from_db()
    retargeted, superseded = _retarget_queued(to_version=model_version.identifier)
    audit_record(
        actor=actor,
        clinic=None,
        action=AuditAction.MODEL_VERSION_ACTIVATE,
        target=model_version,
        data={
            "identifier": model_version.identifier,
            "checksum": model_version.checksum,
            "previous": previous.identifier if previous else None,
            "requeued_predictions": len(retargeted),
            "superseded_predictions": len(superseded),
        },
    )
    return model_version


@transaction.atomic
def predictions_retarget_to_active() -> tuple[list[int], list[int]]:
    """Move predictions still queued for another version than the active one onto it (run by the sweep).

    They arise after an activation: an upload that read the old version just before it, a batch given
    back after a transient error, a prediction whose worker died. Workers claim only the active version's
    work, so left alone they would wait forever. Returns (moved, superseded) ids; nothing while the
    registry is empty.
    """
    active = ModelVersion.objects.active().values_list("identifier", flat=True).first()
    if active is None:
        return [], []
    return _retarget_queued(to_version=active)


def _retarget_queued(*, to_version: str) -> tuple[list[int], list[int]]:
    queued = list(
        Prediction.objects.filter(status=PredictionStatus.QUEUED)
        .exclude(model_version=to_version)
        .select_related("image__lesion__patient__clinic")
        .select_for_update(of=("self",))
        .order_by("queued_at", "id")
    )
    has_target = set(
        Prediction.objects.filter(model_version=to_version, image__in=[p.image_id for p in queued]).values_list(
            "image_id", flat=True
        )
    )
    retargeted, superseded = [], []
    for prediction in queued:
        still_queued = Prediction.objects.filter(id=prediction.id, status=PredictionStatus.QUEUED)
        clinic = prediction.image.lesion.patient.clinic
        if prediction.image_id in has_target:
            error = f"Superseded: the image already has a prediction by {to_version}, now the active model."
            if still_queued.update(status=PredictionStatus.FAILED, finished_at=timezone.now(), error=error):
                superseded.append(prediction.id)
                audit_record(
                    actor=None,
                    clinic=clinic,
                    action=AuditAction.PREDICTION_SUPERSEDED,
                    target=prediction,
                    data={"model_version": prediction.model_version, "active_version": to_version},
                )
        elif still_queued.update(model_version=to_version, queued_at=timezone.now()):
            retargeted.append(prediction.id)
            has_target.add(prediction.image_id)
            audit_record(
                actor=None,
                clinic=clinic,
                action=AuditAction.PREDICTION_RETARGETED,
                target=prediction,
                data={"from_version": prediction.model_version, "to_version": to_version},
            )
    predictions_enqueue_on_commit(retargeted)
    return retargeted, superseded
