"""Predictions: lists scoped to the user's clinics, one result with its heatmaps, the dashboard, the API's
representation (a fixed number of queries per page), and the differences a re-run under another version made."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connection, connections
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce, TruncDate
from django.http import Http404

from mlcore import CLASS_NAMES, CLASSES

from ..compiled import (
    CompiledSelect,
    CompiledStatement,
    captured_statement,
    joined_columns,
    json_instances,
    json_rows,
    statement_slot,
)
from ..interpretation import VersionDiff, VersionDiffRow, prediction_pair_diff
from ..models import HeatmapStatus, LesionImage, Prediction, PredictionHeatmap, PredictionStatus, Review
from .clinics import object_get_for_user, scoped
from .images import lesion_image_list


def prediction_list(*, user, image: LesionImage | None = None) -> QuerySet[Prediction]:
    predictions = scoped(Prediction.objects.select_related("image__lesion__patient__clinic"), user=user)
    return predictions.filter(image=image) if image is not None else predictions


def prediction_get(*, user, pk) -> Prediction:
    """One prediction with its image, lesion, patient and clinic, or 404 outside the user's clinics."""
    return object_get_for_user(
        Prediction.objects.select_related("image__lesion__patient__clinic", "image__uploaded_by"), user=user, pk=pk
    )


def latest_predictions(**outer) -> QuerySet[Prediction]:
    """Predictions of the newest image first, then the newest run of the model on it first."""
    return (
        Prediction.objects.filter(**outer)
        .annotate(taken_on=Coalesce("image__captured_at", TruncDate("image__uploaded_at")))
        .order_by(F("taken_on").desc(), "-image__uploaded_at", "-image_id", "-queued_at", "-id")
    )


@dataclass(frozen=True)
class ClassHeatmap:
    """One class whose evidence a prediction's viewer can show: the top class's heatmap (the prediction's own
    file) or a PredictionHeatmap, with its state: pending, stored or unavailable."""

    class_code: str
    class_name: str
    status: str
    error: str
    is_top: bool
    is_concern: bool


def prediction_class_heatmap_rows(prediction: Prediction) -> list[PredictionHeatmap]:
    """The prediction's PredictionHeatmap rows, by class: as the API's reads load them with the prediction
    (`class_heatmap_rows`, see `_with_class_heatmap_rows`), else from the relation (as prefetched, when it
    is)."""
    rows = getattr(prediction, "class_heatmap_rows", None)
    return rows if rows is not None else list(prediction.class_heatmaps.all())


def prediction_class_heatmaps(*, prediction: Prediction) -> list[ClassHeatmap]:
    """The prediction's heatmaps per class, top class first, then the class of concern, then the rest; uses
    the rows loaded with the prediction when they are (`prediction_class_heatmap_rows`). Empty until the
    prediction has a result."""
    if prediction.status != PredictionStatus.SUCCEEDED:
        return []
    concern = prediction.concern_class
    # The top class's file is the prediction's own: shown whenever it is there (as the viewer always did).
    top_status = HeatmapStatus.STORED if prediction.heatmap else prediction.heatmap_status
    found = [
        ClassHeatmap(
            prediction.top_class,
            CLASS_NAMES[prediction.top_class],
            top_status,
            prediction.heatmap_error,
            is_top=True,
            is_concern=False,
        )
    ]
    others = sorted(
        prediction_class_heatmap_rows(prediction), key=lambda h: (h.class_code != concern, CLASSES.index(h.class_code))
    )
    found += [
        ClassHeatmap(
            h.class_code, CLASS_NAMES[h.class_code], h.status, h.error, is_top=False, is_concern=h.class_code == concern
        )
        for h in others
    ]
    return found


@dataclass(frozen=True)
class Dashboard:
    recent_images: list[LesionImage]
    in_progress: list[Prediction]
    failed: list[Prediction]
    high_risk_unreviewed: list[Prediction]  # the first `limit` of them, the highest risk first
    high_risk_unreviewed_total: int = 0
    cannot_assess: list[Prediction] = dataclasses.field(default_factory=list)


def prediction_needs_review_q() -> Q:
    """Results a human must see (as `interpretation.Interpretation.needs_review` says, in SQL): at or above the
    model's referral threshold, or, from a model without one, in the clinic's high band; not refused images."""
    without_threshold = Q(
        refer__isnull=True, referral_threshold__isnull=True, malignancy_risk__gte=settings.SKINCLINIC_RISK_HIGH_AT
    )
    with_threshold = Q(
        refer__isnull=True, referral_threshold__isnull=False, malignancy_risk__gte=F("referral_threshold")
    )
    return (Q(refer=True) | without_threshold | with_threshold) & ~Q(assessable=False)


def dashboard_get(*, user, limit: int = 10) -> Dashboard:
    """What needs a clinician's attention in the user's clinics: results to refer (or, from a model without a
    referral threshold, high-risk ones) whose image nobody has reviewed yet, with their total; images the
    model could not assess; predictions still queued or running; failed ones; and the newest uploads."""
    predictions = prediction_list(user=user).select_related("image__lesion__patient")
    recent = (
        lesion_image_list(user=user)
        .select_related("lesion__patient")
        .prefetch_related(
            Prefetch("predictions", queryset=Prediction.objects.order_by("-queued_at", "-id")),
            Prefetch("reviews", queryset=Review.objects.select_related("reviewer")),
        )
        .order_by("-uploaded_at", "-id")
    )[:limit]
    reviewed = Review.objects.filter(image=OuterRef("image"))
    to_review = predictions.filter(prediction_needs_review_q(), status=PredictionStatus.SUCCEEDED).filter(
        ~Exists(reviewed)
    )
    return Dashboard(
        recent_images=list(recent),
        in_progress=list(
            predictions.filter(status__in=[PredictionStatus.QUEUED, PredictionStatus.RUNNING]).order_by(
                "queued_at", "id"
            )[:limit]
        ),
        failed=list(predictions.filter(status=PredictionStatus.FAILED).order_by("-finished_at", "-id")[:limit]),
        high_risk_unreviewed=list(to_review.order_by("-malignancy_risk", "-finished_at")[:limit]),
        high_risk_unreviewed_total=to_review.count(),
        cannot_assess=list(
            predictions.filter(status=PredictionStatus.SUCCEEDED, assessable=False)
            .filter(~Exists(reviewed))
            .order_by("-finished_at", "-id")[:limit]
        ),
    )


def _with_reviewed(predictions: QuerySet[Prediction]) -> QuerySet[Prediction]:
    return predictions.annotate(is_reviewed=Exists(Review.objects.filter(image=OuterRef("image_id"))))


def _for_representation(predictions: QuerySet[Prediction]) -> QuerySet[Prediction]:
    """What a prediction's representation and its read's audit record need besides its own row (which holds
    its clinic's id): the ids of its lesion and patient (`lesion_id`, `patient_id`, columns of the joined
    tables rather than the image's and lesion's rows, which cost more to select and load than the rest of the
    read) and whether it was reviewed. Its heatmaps per class come in the same statement, as each read
    selects them (`_representation_get`, `PredictionRepresentationPages`)."""
    return _with_reviewed(
        predictions.select_related(None).annotate(
            lesion_id=F("image__lesion_id"), patient_id=F("image__lesion__patient_id")
        )
    )


def _with_class_heatmap_rows(prediction: Prediction, heatmaps: list[PredictionHeatmap]) -> Prediction:
    """Stores the prediction's heatmaps per class where `prediction_class_heatmap_rows` reads them, ordered by
    class as the relation orders them."""
    heatmaps.sort(key=lambda heatmap: heatmap.class_code)
    for heatmap in heatmaps:
        heatmap.prediction = prediction
    prediction.class_heatmap_rows = heatmaps  # type: ignore[attr-defined]
    return prediction


def prediction_representation_list(*, user) -> QuerySet[Prediction]:
    """The user's predictions as the API lists them, before its filters and paging: their own rows only, so
    that the count and the page's order read the (clinic, newest first) index without joins; page them
    through `PredictionRepresentationPages`, which loads a page's representation."""
    return _with_reviewed(scoped(Prediction.objects.all(), user=user))


@functools.lru_cache(maxsize=32)
def _page_read(vendor: str, ordering: tuple) -> CompiledSelect[Prediction]:
    """A page's statement in `ordering` as the ORM compiles it, compiled once per process and ordering (about
    a fifth of a page's CPU): the page's ids (scoped, filtered, ordered and sliced: compiled on each call)
    go where `statement_slot("ids")` stands. Its heatmaps per class come as JSON in the same statement
    (`json_rows`): a prefetch was a second statement and a tenth of the page's CPU."""
    heatmaps = json_rows(PredictionHeatmap.objects.filter(prediction=OuterRef("pk")), per="prediction")
    page = _for_representation(Prediction.objects.filter(pk__in=statement_slot("ids")))
    return CompiledSelect(
        page.annotate(class_heatmaps_json=heatmaps).order_by(*ordering), slots={}, statements=("ids",)
    )


class PredictionRepresentationPages:
    """A filtered, ordered list of predictions as a paginator sees it: `count()` counts the bare rows, and a
    slice is one statement that picks the page's ids from the bare rows (still scoped, filtered and ordered,
    in a subquery) and only then joins those rows for their representation (`_for_representation`, with
    their heatmaps per class), in the same order. Joining first made the database join every row of the
    clinic to count and sort them. `unfiltered` pages the user's predictions with no filter with
    statements compiled once per process."""

    model = Prediction

    def __init__(self, predictions: QuerySet[Prediction] | None, *, user=None, ordering: tuple = ()):
        self.predictions = predictions
        self._user, self._ordering = user, ordering

    @classmethod
    def unfiltered(cls, *, user, ordering) -> PredictionRepresentationPages:
        """`PredictionRepresentationPages(prediction_representation_list(user=user).order_by(*ordering))`, the
        list an integrator syncs page by page, whose count and page's ids only differ by the user's id and
        the page's limit and offset: compiled once per process and ordering (`_unfiltered_reads`), as
        building the scoped queryset and compiling them was a sixth of a page's CPU."""
        if not user.is_authenticated:  # no clinics: the ORM's path reads nothing
            return cls(prediction_representation_list(user=user).order_by(*ordering))
        return cls(None, user=user, ordering=tuple(ordering))

    def count(self) -> int:
        if self.predictions is not None:
            return self.predictions.count()
        count, _ = _unfiltered_reads(connection.vendor, self._ordering)
        with connection.cursor() as cursor:
            cursor.execute(*count.bind(user=self._user.pk))
            return cursor.fetchone()[0]

    def _ids(self, page: slice) -> tuple[tuple[str, list] | None, str, tuple]:
        """The page's ids as a subquery (None for an empty slice), its database and the page's ordering."""
        if self.predictions is None:
            start, stop = page.start or 0, page.stop
            if stop is None:
                raise ValueError("a page is a bounded slice")
            if stop <= start:  # an empty slice, as the ORM reads it: no statement
                return None, connection.alias, self._ordering
            _, page_ids = _unfiltered_reads(connection.vendor, self._ordering)
            statement = page_ids.bind(user=self._user.pk, limit=stop - start, offset=start)
            return statement, connection.alias, self._ordering
        ordering = tuple(self.predictions.query.order_by or Prediction._meta.ordering or ())
        ids = self.predictions.values("pk")[page]
        try:
            return _ids_subquery(ids), ids.db, ordering
        except EmptyResultSet:  # an empty slice, as the ORM reads it: no statement
            return None, ids.db, ordering

    def __getitem__(self, page: slice) -> list[Prediction]:
        ids_statement, db, ordering = self._ids(page)
        if ids_statement is None:
            return []
        read = _page_read(connections[db].vendor, ordering)
        predictions = [read.instance(row) for row in read.rows(ids=ids_statement)]
        for prediction in predictions:
            loaded = prediction.class_heatmaps_json  # type: ignore[attr-defined]
            _with_class_heatmap_rows(prediction, json_instances(PredictionHeatmap, loaded, using=read.alias))
        return predictions


# Stand-ins for a page's offset and size while `_unfiltered_reads` compiles its slice (no list is as long).
_OFFSET_SLOT, _LIMIT_SLOT = 1_000_000_003, 1_000_000_009


@functools.lru_cache(maxsize=32)
def _unfiltered_reads(vendor: str, ordering: tuple) -> tuple[CompiledStatement, CompiledStatement]:
    """The count and the page's ids of `prediction_representation_list(user=...).order_by(*ordering)` as the
    ORM sends them (the count captured from `count()`, the ids as `PredictionRepresentationPages` compiles
    them), with `_USER_SLOT` where the user's id goes and the slice's limit and offset as parameters."""
    user = get_user_model()(pk=_USER_SLOT)
    predictions = prediction_representation_list(user=user).order_by(*ordering)
    count = CompiledStatement(*captured_statement(predictions, QuerySet.count), slots={"user": _USER_SLOT})
    ids = predictions.values("pk")[_OFFSET_SLOT : _OFFSET_SLOT + _LIMIT_SLOT]
    paging = connections[ids.db].ops.limit_offset_sql(_OFFSET_SLOT, _OFFSET_SLOT + _LIMIT_SLOT)
    return count, CompiledStatement(*_ids_subquery(ids), slots={"user": _USER_SLOT}, paging=paging)


def _ids_subquery(ids: QuerySet) -> tuple[str, list]:
    """The SQL and parameters of a sliced `values("pk")` as the ORM compiles it inside `pk__in`: one column,
    whatever DISTINCT adds (EmptyResultSet for an empty slice)."""
    query = ids.query.clone()
    query.subquery = True
    sql, params = query.get_compiler(using=ids.db).as_sql()
    return sql, list(params)


# Stand-ins for the user's and the prediction's ids while the retrieve's SQL is compiled (no row has them).
_USER_SLOT, _PK_SLOT = -2_000_000_011, -2_000_000_017


@functools.cache
def _representation_get(vendor: str) -> CompiledSelect[Prediction]:
    """The retrieve's statement as the ORM compiles it from the one scoping helper (`object_get_for_user`'s
    `scoped`), with `_USER_SLOT`/`_PK_SLOT` where the caller's and the prediction's ids go; its heatmaps per
    class are LEFT JOINed (a row for each, by class) rather than read by a second statement:
    one round trip instead of two."""
    user = get_user_model()(pk=_USER_SLOT)
    queryset = (
        scoped(_for_representation(Prediction.objects.all()), user=user)
        .filter(pk=_PK_SLOT)
        .annotate(**joined_columns("heatmap", "class_heatmaps", PredictionHeatmap))
        .order_by("class_heatmaps__class_code")
    )
    return CompiledSelect(queryset, slots={"user": _USER_SLOT, "pk": _PK_SLOT}, joined={"heatmap": PredictionHeatmap})


def prediction_representation_get(*, user, pk) -> Prediction:
    """What `object_get_for_user(_for_representation(Prediction.objects.all()), user=user, pk=pk)` returns
    (404 outside the user's clinics), in one statement the ORM compiled once per process from that queryset:
    building and compiling it on every request was half of an API retrieve's CPU, while the statement only
    ever differs by the two ids (tests/api/test_prediction_reads.py holds the two reads to the same result)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError) as exc:
        raise Http404("No prediction matches the given query.") from exc
    if not user.is_authenticated:
        raise Http404("No prediction matches the given query.")
    read = _representation_get(connection.vendor)
    rows = read.rows(user=user.pk, pk=pk)
    if not rows:
        raise Http404("No prediction matches the given query.")
    heatmaps = [read.joined_instance(row, "heatmap") for row in rows]
    found = [heatmap for heatmap in heatmaps if isinstance(heatmap, PredictionHeatmap)]  # None: the join found none
    return _with_class_heatmap_rows(read.instance(rows[0]), found)


def prediction_version_diff(
    *,
    to_version: str,
    images: QuerySet[LesionImage] | None = None,
    from_version: str | None = None,
) -> VersionDiff:
    """For each image with a succeeded `to_version` result, compare it with the `from_version` result, or by
    default with the newest succeeded result of any other version. Images without both are left out."""
    succeeded = Prediction.objects.filter(status=PredictionStatus.SUCCEEDED)
    if images is not None:
        succeeded = succeeded.filter(image__in=images.values("id"))
    rows = succeeded.values_list("id", "image_id", "model_version", "top_class", "malignancy_risk", "finished_at")
    target: dict[int, tuple] = {}
    baseline: dict[int, tuple] = {}
    for row in rows.order_by("image_id", "finished_at", "id"):
        image_id, version = row[1], row[2]
        if version == to_version:
            target[image_id] = row
        elif from_version is None or version == from_version:
            baseline[image_id] = row  # ordered by finished_at: the newest wins
    diff_rows = []
    for image_id in sorted(target.keys() & baseline.keys()):
        new, old = target[image_id], baseline[image_id]
        diff_rows.append(
            VersionDiffRow(
                image_id=image_id,
                from_version=old[2],
                from_prediction_id=old[0],
                to_prediction_id=new[0],
                diff=prediction_pair_diff(old_top=old[3], old_risk=old[4], new_top=new[3], new_risk=new[4]),
            )
        )
    return VersionDiff(to_version=to_version, rows=diff_rows)
