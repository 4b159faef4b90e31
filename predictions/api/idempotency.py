"""`Idempotency-Key`: a POST sent again with the same key gets the first response back, not a second effect.

The key, the user, a digest of the request and the response are stored in the transaction of the
action itself, so either both the effect and its record commit or neither does. A retry that arrives
while the first request is still running waits on the key's unique index and then replays the
response. The same key with a different request is refused (422), as the IETF draft
"The Idempotency-Key HTTP Header Field" says.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.response import Response

from ..models import IdempotencyRecord
from .exceptions import Conflict, UnprocessableEntity

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("Location",)
_PENDING = 0


def _file_digest(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return "sha256:" + digest.hexdigest()


def request_fingerprint(request) -> str:
    """A digest of what the request asks for: method, path, query, and its parsed fields and files.

    Parsed rather than raw, so a multipart retry with a new boundary still matches.
    """
    data = request.data
    if hasattr(data, "lists"):  # a form or multipart body (DRF merges the files into it)
        fields = sorted(
            (name, [_file_digest(v) if isinstance(v, UploadedFile) else v for v in values])
            for name, values in data.lists()
        )
    else:
        fields = data
    body = json.dumps(
        [request.method, request.path, request.META.get("QUERY_STRING", ""), fields],
        cls=DjangoJSONEncoder,
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.response_status == _PENDING:
        raise Conflict("A request with this Idempotency-Key is still being processed; retry shortly.")
    if record.request_hash != fingerprint:
        raise UnprocessableEntity(
            "This Idempotency-Key was used for a different request.",
            errors={HEADER: ["Already used with another method, URL or body."]},
        )
    return Response(
        record.response_body,
        status=record.response_status,
        headers={**record.response_headers, REPLAYED_HEADER: "true"},
    )


def idempotent(handler):
    """Decorate a view's `post`: with an Idempotency-Key header it runs once per (user, key)."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not 1 <= len(key) <= 255 or not key.isprintable():
            raise exceptions.ValidationError({HEADER: ["Must be 1 to 255 printable characters."]})
        fingerprint = request_fingerprint(request)
        now = timezone.now()
        with transaction.atomic():
            records = IdempotencyRecord.objects.filter(user=request.user, key=key)
            record = records.first()
            if record is not None and record.created_at < now - datetime.timedelta(
                seconds=settings.SKINCLINIC_IDEMPOTENCY_KEY_TTL
            ):
                records.delete()
                record = None
            if record is not None:
                return _replay(record, fingerprint)
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        user=request.user,
                        key=key,
                        method=request.method,
                        path=request.path[:500],
                        request_hash=fingerprint,
                        response_status=_PENDING,
                    )
            except IntegrityError as exc:
                # Another request with this key committed while this one waited on the unique index.
                record = records.first()
                if record is None:
                    raise Conflict(
                        "A request with this Idempotency-Key is still being processed; retry shortly."
                    ) from exc
                return _replay(record, fingerprint)
            response = handler(view, request, *args, **kwargs)
            if response.status_code >= 500:
                transaction.set_rollback(True)
                return response
            record.response_status = response.status_code
            record.response_body = json.loads(json.dumps(response.data, cls=DjangoJSONEncoder))
            record.response_headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
            record.save(update_fields=["response_status", "response_body", "response_headers"])
            IdempotencyRecord.objects.filter(
                created_at__lt=now - datetime.timedelta(seconds=settings.SKINCLINIC_IDEMPOTENCY_KEY_TTL)
            ).delete()
        return response

    return wrapper
