"""Celery ignores misspelled settings; these tests read the configuration Celery actually uses."""

import pytest
from celery.app.defaults import NAMESPACES, flatten
from django.conf import settings

from skinclinic.celery import app


@pytest.fixture
def tasks():
    """The tasks a worker registers at startup (autodiscovery of the apps' tasks modules)."""
    app.loader.import_default_modules()
    return app.tasks


def test_reliability_settings_are_in_effect():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_ignore_result is True
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.worker_proc_alive_timeout >= 60  # loading TensorFlow after fork takes seconds


def test_time_limits_are_below_the_broker_visibility_timeout():
    conf = app.conf
    visibility_timeout = conf.broker_transport_options["visibility_timeout"]
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit < visibility_timeout


def test_the_sweep_waits_longer_than_a_task_may_run_and_is_scheduled(tasks):
    assert settings.SKINCLINIC_PREDICTION_STUCK_AFTER > app.conf.task_time_limit
    [entry] = [e for e in app.conf.beat_schedule.values() if e["task"] == "predictions.tasks.predictions_sweep_task"]
    assert entry["schedule"] > 0
    assert "predictions.tasks.predictions_sweep_task" in tasks


def test_the_attempt_cap_and_batch_size_are_set():
    assert settings.SKINCLINIC_PREDICTION_MAX_ATTEMPTS >= 1
    assert settings.SKINCLINIC_PREDICTION_BATCH_SIZE >= 1


def test_every_celery_setting_is_one_celery_knows():
    known = {key for key, _ in flatten(NAMESPACES)}
    ours = {name.removeprefix("CELERY_").lower() for name in dir(settings) if name.startswith("CELERY_")}
    assert ours - known == set()


def test_the_prediction_task_acknowledges_late_and_is_requeued_if_its_worker_dies(tasks):
    task = tasks["predictions.tasks.prediction_run_task"]
    assert task.acks_late is True and task.reject_on_worker_lost is True


@pytest.mark.django_db
def test_a_send_on_commit_goes_after_commit_and_a_broker_that_is_down_then_is_logged_not_raised(
    tasks, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from django.db import transaction

    from predictions.models import Prediction, PredictionStatus
    from tests.predictions.factories import PredictionFactory

    task = tasks["predictions.tasks.prediction_heatmap_task"]
    sent = []
    monkeypatch.setattr(task, "apply_async", lambda *args, **options: sent.append((args, options)))
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            task.apply_async_on_commit(args=[[7]], priority=3)
            assert sent == []
    assert sent == [((), {"args": [[7]], "priority": 3})]

    def broker_down(*args, **options):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(task, "apply_async", broker_down)
    monkeypatch.setattr(task, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            prediction = PredictionFactory()
            task.apply_async_on_commit(args=[[prediction.pk]])
            task.delay_on_commit([prediction.pk])
    assert Prediction.objects.get(pk=prediction.pk).status == PredictionStatus.QUEUED  # committed
    failures = [r for r in caplog.records if r.getMessage().startswith("could not enqueue")]
    assert len(failures) == 2 and all(r.exc_info for r in failures)
