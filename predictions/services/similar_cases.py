"""Similar reference cases: found in the worker with each result, from the embedding of the same forward pass."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import IntegrityError, transaction

from ..models import Confirmation, Prediction, SimilarCase
from ..references import reference_index_get

logger = logging.getLogger(__name__)

SIMILAR_CASES = 6


def similar_cases_find(*, outcomes: Sequence, classifier) -> list[list | None]:
    """The reference neighbours (mlcore.reference.Neighbour) of each outcome of a batch, None where there
    are none to give: an unreadable image, one the model refused to assess, no embedding, or no usable
    index for the classifier's model version. Never raises: similar cases must not fail a result."""
    from mlcore.reference import ReferenceIndexError, query_batch

    embeddings = [
        None if isinstance(outcome, Exception) or outcome.assessable is False else getattr(outcome, "embedding", None)
        for outcome in outcomes
    ]
    if all(e is None for e in embeddings):
        return [None] * len(outcomes)
    try:
        index = reference_index_get(classifier.version, weights_sha256=getattr(classifier, "checksum", None))
        return query_batch(index, embeddings, k=SIMILAR_CASES)
    except ReferenceIndexError as exc:
        logger.info("no similar cases for model %s: %s", classifier.version, exc)
    except Exception:
        logger.exception("similar cases could not be found; the results are stored without them")
    return [None] * len(outcomes)


def similar_cases_store(*, predictions: Sequence[Prediction], neighbours: dict[int, list | None]) -> int:
    """Store the neighbours of succeeded predictions (inside the transaction that stores their results);
    returns how many rows were written."""
    ids = [p.id for p in predictions if neighbours.get(p.id)]
    id_max_length = SimilarCase._meta.get_field("reference_id").max_length
    assert id_max_length is not None  # a CharField declares one
    rows = [
        SimilarCase(
            prediction_id=prediction_id,
            rank=n.rank,
            reference_id=n.case.image_id,
            dx=n.case.dx,
            dx_type=n.case.dx_type if n.case.dx_type in Confirmation.values else "",
            age=n.case.age,
            sex=(n.case.sex or "")[:16],
            site=(n.case.site or "")[:32],
            similarity=n.similarity,
        )
        for prediction_id in ids
        for n in neighbours[prediction_id] or []
        if len(n.case.image_id) <= id_max_length
    ]
    if not ids:
        return 0  # no query at all: a batch without an index costs the worker nothing here
    try:
        # In a savepoint: a reference set the table cannot hold costs the cases, never the results.
        with transaction.atomic():
            SimilarCase.objects.filter(prediction_id__in=ids).delete()  # a result stored again replaces its cases
            SimilarCase.objects.bulk_create(rows)
    except IntegrityError:
        logger.exception("the similar cases of predictions %s could not be stored", ids)
        return 0
    return len(rows)
