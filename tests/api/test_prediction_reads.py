"""The API's hottest reads run SQL the ORM compiled once per process: they return what the ORM's querysets
return, scoped the same way, and cache nothing but the SQL (a token revoked by another host fails at once)."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.http import Http404
from django.utils import timezone
from rest_framework.test import APIClient

from predictions.api.authentication import api_token_with_user
from predictions.compiled import CompiledSelect
from predictions.models import ApiToken, PredictionHeatmap, Review
from predictions.selectors import prediction_representation_get
from predictions.selectors.clinics import object_get_for_user
from predictions.selectors.predictions import _for_representation, prediction_class_heatmap_rows
from predictions.services.api_tokens import api_token_create, api_token_digest
from tests.predictions.factories import LesionImageFactory, PredictionFactory

from .conftest import succeeded

pytestmark = pytest.mark.django_db


def _orm_get(user, pk):
    from predictions.models import Prediction

    return object_get_for_user(_for_representation(Prediction.objects.all()), user=user, pk=pk)


def _state(prediction):
    """Everything a representation and an audit record read from a loaded prediction."""
    from predictions.models import Prediction

    fields = {f.attname: getattr(prediction, f.attname) for f in Prediction._meta.concrete_fields}
    heatmap_fields = PredictionHeatmap._meta.concrete_fields
    heatmaps = [
        ({f.attname: getattr(h, f.attname) for f in heatmap_fields}, h.prediction is prediction)
        for h in prediction_class_heatmap_rows(prediction)
    ]
    return fields, prediction.lesion_id, prediction.patient_id, prediction.is_reviewed, heatmaps


@pytest.fixture
def two(staff):
    """A reviewed result with a heatmap per class and a queued one without anything."""
    done = succeeded(
        PredictionFactory(image=LesionImageFactory(lesion=staff.lesion)),
        assessment_reasons=[{"code": "blur", "message": "Blurred"}],
        refer=True,
        referral_threshold=0.3,
    )
    PredictionHeatmap.objects.create(prediction=done, class_code="bcc", status="unavailable", error="no")
    PredictionHeatmap.objects.create(prediction=done, class_code="akiec", status="pending", queued_at=timezone.now())
    Review.objects.create(image=done.image, prediction=done, verdict="agree", diagnosis="nv", reviewer=staff.reviewer)
    return done, PredictionFactory(image=LesionImageFactory(lesion=staff.lesion))


@pytest.mark.parametrize("role", ["clinician", "reviewer", "admin"])
def test_a_retrieve_returns_what_the_orm_returns(staff, two, role):
    for prediction in two:
        compiled, orm = (
            prediction_representation_get(user=staff.role(role), pk=prediction.pk),
            _orm_get(staff.role(role), prediction.pk),
        )
        assert type(compiled) is type(orm)
        assert _state(compiled) == _state(orm)
    assert _state(prediction_representation_get(user=staff.clinician, pk=str(two[0].pk)))[3] is True


def test_a_retrieve_outside_the_users_clinics_or_of_no_prediction_is_404_as_with_the_orm(staff, two):
    superuser = get_user_model().objects.create_superuser("operator", password="x")  # no clinic: sees none
    for user, pk in [
        (staff.outsider, two[0].pk),
        (superuser, two[0].pk),
        (staff.clinician, 10**9),
        (staff.clinician, "x"),
        (staff.clinician, None),
    ]:
        with pytest.raises(Http404):
            _orm_get(user, pk)
        with pytest.raises(Http404):
            prediction_representation_get(user=user, pk=pk)


def test_the_token_lookup_loads_what_the_orm_loads(staff):
    token, key = api_token_create(
        user=staff.clinician, name="EHR", expires_at=timezone.now() + datetime.timedelta(days=3)
    )
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    compiled = api_token_with_user(api_token_digest(key))
    orm = ApiToken.objects.select_related("user").get(pk=token.pk)
    assert compiled is not None

    def fields(obj):
        return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}

    assert fields(compiled) == fields(orm) and fields(compiled.user) == fields(orm.user)
    assert isinstance(compiled.expires_at, datetime.datetime) and compiled.user.is_authenticated
    assert api_token_with_user(api_token_digest(key + "x")) is None


def test_a_token_revoked_by_another_host_fails_on_the_next_request(staff):
    token, key = api_token_create(user=staff.clinician, name="EHR")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/clinics").status_code == 200
    # Another web host revokes it: only the database knows.
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert client.get("/api/v1/clinics").status_code == 401
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=None)
    get_user_model().objects.filter(pk=staff.clinician.pk).update(is_active=False)
    assert client.get("/api/v1/clinics").status_code == 401


def test_a_statement_is_not_compiled_without_every_slot_in_place():
    with pytest.raises(RuntimeError):
        CompiledSelect(ApiToken.objects.filter(key_hash="a" * 64), slots={"key_hash": "0" * 64})


@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_a_page_loads_what_the_orm_loads(staff, two, role):
    from predictions.models import Prediction
    from predictions.selectors.predictions import PredictionRepresentationPages, prediction_representation_list

    user = staff.role(role)
    page = PredictionRepresentationPages(prediction_representation_list(user=user).order_by("-queued_at", "-id"))[0:50]
    assert [p.pk for p in page] == [p.pk for p in reversed(two)]
    for loaded in page:
        orm = _orm_get(user, loaded.pk)
        assert type(loaded) is Prediction and _state(loaded) == _state(orm)
    assert [h.class_code for h in prediction_class_heatmap_rows(page[1])] == ["akiec", "bcc"]


# Each ordering the list allows (the default first); the values below are distinct, so every order is total.
ORDERINGS = [("-queued_at", "-id"), ("queued_at",), ("-finished_at",), ("malignancy_risk",), ("-id",)]


@pytest.fixture
def seven(staff, two):
    """Seven predictions of the staff's clinic (two with heatmaps, reviewed or not) and two of another's."""
    from tests.predictions.factories import LesionFactory, PatientFactory

    start = timezone.now() - datetime.timedelta(days=1)
    for n in range(5):
        succeeded(
            PredictionFactory(image=LesionImageFactory(lesion=staff.lesion)),
            malignancy_risk=(n * 3 % 5) / 5 + 0.01,
            finished_at=start + datetime.timedelta(minutes=7 * n % 5),
        )
    other = LesionFactory(patient=PatientFactory(clinic=staff.other_clinic))
    for _ in range(2):
        succeeded(PredictionFactory(image=LesionImageFactory(lesion=other)), malignancy_risk=0.5)
    from predictions.models import Prediction

    for n, prediction in enumerate(Prediction.objects.order_by("?")):
        Prediction.objects.filter(pk=prediction.pk).update(queued_at=start - datetime.timedelta(minutes=n))
    done, queued = two
    Prediction.objects.filter(pk=done.pk).update(finished_at=start + datetime.timedelta(hours=1))


@pytest.mark.parametrize("ordering", ORDERINGS)
@pytest.mark.parametrize("who", ["clinician", "reviewer", "admin", "outsider", "without_clinic", "anonymous"])
def test_an_unfiltered_page_is_the_querysets_page(staff, seven, user_without_clinic, who, ordering):
    """The unfiltered list's statements, compiled once per process, count and page what the scoped queryset
    does, for every role, another clinic's user and users of no clinic, in each ordering and on every page."""
    from django.contrib.auth.models import AnonymousUser

    from predictions.selectors.predictions import PredictionRepresentationPages, prediction_representation_list

    user = {"without_clinic": user_without_clinic, "anonymous": AnonymousUser()}.get(who) or staff.role(who)
    compiled = PredictionRepresentationPages.unfiltered(user=user, ordering=ordering)
    orm = PredictionRepresentationPages(prediction_representation_list(user=user).order_by(*ordering))
    expected = {"outsider": 2, "without_clinic": 0, "anonymous": 0}.get(who, 7)
    assert compiled.count() == orm.count() == expected
    for start, stop in ((0, 0), (0, 3), (3, 6), (6, 7), (6, 9), (7, 10), (9, 12), (0, 50)):
        page = slice(start, stop)
        loaded, reference = compiled[page], orm[page]
        assert [p.pk for p in loaded] == [p.pk for p in reference]
        assert [_state(p) for p in loaded] == [_state(p) for p in reference]
    assert [p.pk for p in compiled[0:50]] == [p.pk for p in orm[0:50]] and len(compiled[0:50]) == expected


@pytest.mark.parametrize("ordering", ["", "&ordering=queued_at", "&ordering=-finished_at", "&ordering=malignancy_risk"])
@pytest.mark.parametrize("who", ["clinician", "outsider"])
def test_the_unfiltered_list_gives_the_filtered_lists_pages(api, staff, seven, who, ordering):
    """Through the API: each page (and the one past the last, 404) without filters is the page with empty
    filters, which builds the queryset and runs django-filter."""
    client = api(who)
    pages = 3 if who == "clinician" else 1
    for page in range(1, pages + 2):
        query = f"/api/v1/predictions?page_size=3&page={page}{ordering}"
        without, with_empty = client.get(query), client.get(f"{query}&model_version=")
        assert without.status_code == with_empty.status_code == (200 if page <= pages else 404)
        if page <= pages:
            body, reference = without.json(), with_empty.json()
            assert (body["count"], body["results"]) == (reference["count"], reference["results"])
            assert body["results"] and body["count"] == (7 if who == "clinician" else 2)


def test_a_reading_ranks_equal_probabilities_in_the_classes_order():
    """The representation's classes: the most probable first, equal ones in CLASSES' order (the reading sorts
    without a key per class), and the entropy over the non-zero ones."""
    import math

    from mlcore import CLASSES
    from predictions.interpretation import entropy_of, prediction_interpret
    from predictions.models import Prediction

    shares = {"nv": 0.3, "mel": 0.2, "bcc": 0.2, "akiec": 0.2, "bkl": 0.1, "df": 0.0, "vasc": 0.0}
    prediction = Prediction(status="succeeded", probabilities=shares, top_class="nv", malignancy_risk=0.6)
    ranked = [c.code for c in prediction_interpret(prediction).classes]
    assert ranked == sorted(CLASSES, key=lambda code: (-shares[code], CLASSES.index(code)))
    assert ranked[:4] == ["nv"] + [c for c in CLASSES if c in ("mel", "bcc", "akiec")] and ranked[-2:] == ["df", "vasc"]
    assert entropy_of(shares) == -sum(p * math.log(p) for p in shares.values() if p > 0)


def test_a_loaded_instance_is_what_from_db_builds(two):
    """Compiled reads put a plain model's values in its __dict__: the same instance as from_db's, which they
    still use when a pre_init/post_init receiver listens or when columns are missing."""
    from django.db.models.signals import post_init

    from predictions.compiled import loaded_instance
    from predictions.models import Prediction

    attnames = [f.attname for f in Prediction._meta.concrete_fields]
    values = list(Prediction.objects.filter(pk=two[0].pk).values_list(*attnames).get())
    fast = loaded_instance(Prediction, "default", attnames, values)
    orm = Prediction.from_db("default", attnames, values)
    assert fast.__dict__.keys() == orm.__dict__.keys() and fast._state.fields_cache == orm._state.fields_cache == {}
    assert fast._state.__dict__ == orm._state.__dict__
    assert {a: getattr(fast, a) for a in attnames} == {a: getattr(orm, a) for a in attnames}
    assert fast.heatmap == orm.heatmap and fast.image.pk == orm.image.pk and not fast._state.adding
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Prediction)
    try:
        assert loaded_instance(Prediction, "default", attnames, values) is seen[0]
    finally:
        post_init.disconnect(receiver, sender=Prediction)
    partial = loaded_instance(Prediction, "default", attnames[:3], values[:3])
    assert partial.get_deferred_fields() == set(attnames[3:])


@pytest.mark.parametrize(
    "text", ['{"nv": 0.0012345678901234567}', "[12345678901234567890123, 1]", '"text"', "not json", "1e400", "-0"]
)
def test_compiled_reads_decode_json_as_the_orm_does(text):
    from django.db import connection
    from django.db.models import JSONField

    from predictions.compiled import _fast_converter

    field = JSONField()
    fast = _fast_converter(field.from_db_value)
    assert fast is not field.from_db_value
    decoded, expected = fast(text, None, connection), field.from_db_value(text, None, connection)
    assert decoded == expected and type(decoded) is type(expected)
    assert fast(None, None, connection) is None
    with pytest.raises(TypeError):  # not text: the ORM's own, which json refuses too
        fast(7, None, connection)
