"""Predictions committed together are sent as one task message per batch a worker run claims."""

import pytest
from django.db import transaction
from django.test import TestCase

from predictions import tasks
from predictions.models import PredictionStatus
from predictions.services import predictions_enqueue_on_commit
from predictions.tasks import prediction_heatmap_task, prediction_run_task

from .factories import PredictionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    messages = []
    monkeypatch.setattr(tasks.prediction_run_task, "delay", messages.append)
    return messages


def test_ten_predictions_committed_together_are_sent_as_one_message_per_batch_of_four(settings, sent):
    settings.SKINCLINIC_PREDICTION_BATCH_SIZE = 4
    predictions = PredictionFactory.create_batch(10)
    with TestCase.captureOnCommitCallbacks(execute=True):
        with transaction.atomic():
            for prediction in predictions:
                predictions_enqueue_on_commit([prediction.pk])
    assert sent == [predictions[0].pk, predictions[4].pk, predictions[8].pk]


def test_a_rolled_back_savepoint_loses_none_of_the_predictions_queued_around_it(settings, sent):
    settings.SKINCLINIC_PREDICTION_BATCH_SIZE = 2
    before, inside, after = PredictionFactory.create_batch(3)
    with TestCase.captureOnCommitCallbacks(execute=True):
        with transaction.atomic():
            try:
                with transaction.atomic():  # the first enqueue of the transaction, then rolled back
                    predictions_enqueue_on_commit([inside.pk])
                    raise RuntimeError
            except RuntimeError:
                pass
            predictions_enqueue_on_commit([before.pk])
            predictions_enqueue_on_commit([after.pk])
    assert sent == [before.pk]  # one message for the batch of the two committed


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_message_goes_at_once(sent):
    prediction = PredictionFactory()
    predictions_enqueue_on_commit([prediction.pk])
    assert sent == [prediction.pk]


def test_the_messages_of_a_batch_commit_run_every_prediction(settings, fake_classifier, media_root, monkeypatch):
    settings.SKINCLINIC_PREDICTION_BATCH_SIZE = 4
    monkeypatch.setattr(prediction_heatmap_task, "apply_async", lambda args, **options: None)
    predictions = PredictionFactory.create_batch(10)
    messages = []
    monkeypatch.setattr(tasks.prediction_run_task, "delay", messages.append)
    with TestCase.captureOnCommitCallbacks(execute=True):
        with transaction.atomic():
            predictions_enqueue_on_commit([p.pk for p in predictions])
    assert len(messages) == 3
    for i, prediction_id in enumerate(messages):
        with TestCase.captureOnCommitCallbacks(execute=True):
            prediction_run_task.apply(args=[prediction_id], task_id=f"run-{i}")
    statuses = {p.status for p in type(predictions[0]).objects.filter(pk__in=[p.pk for p in predictions])}
    assert statuses == {PredictionStatus.SUCCEEDED}
