"""Faults of the services the app stands on (database, broker, storage) and of requests it cannot read, and the
typed refusals services raise when a request cannot be honoured (too large, not an image, a duplicate).

One classification, used by the API's exception handler (JSON) and the portal's error pages (HTML), so a
database outage or a full disk reads the same everywhere: what happened, whether to retry, and when.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent, ValidationError
from django.db import InterfaceError, OperationalError

# How long a client should wait before retrying after a backing service failed (Retry-After, seconds):
# long enough for a database restart or a broker failover, short enough not to lose the user.
RETRY_AFTER_SECONDS = 30

_STORAGE_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# A read-only or failing disk (or one the app may not write): an operator's fix, then a retry works.
_STORAGE_UNAVAILABLE = {errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM, errno.ESTALE}


@dataclass(frozen=True)
class Fault:
    """What a failure means to the person who made the request."""

    status: int
    code: str
    title: str
    detail: str
    retry_after: int | None = None


SERVICE_UNAVAILABLE = Fault(
    503,
    "service_unavailable",
    "SkinClinic cannot answer right now",
    "A service SkinClinic depends on is not answering; nothing was saved. Try again in a minute.",
    RETRY_AFTER_SECONDS,
)
STORAGE_FULL = Fault(
    507,
    "storage_full",
    "The image store is full",
    "The image store is full; nothing was saved. Tell your administrator, then try again.",
)
STORAGE_UNAVAILABLE = Fault(
    503,
    "storage_unavailable",
    "Images cannot be stored right now",
    "The image store cannot be written; nothing was saved. Try again in a minute.",
    RETRY_AFTER_SECONDS,
)
BODY_TOO_LARGE = Fault(
    413,
    "too_large",
    "Too much was sent",
    "The request body is larger than this server accepts; nothing was saved. Send less at once.",
)
BODY_UNREADABLE = Fault(
    400,
    "parse_error",
    "The request could not be read",
    "The request body cannot be read: it is malformed or too complex. Nothing was saved.",
)


class Refusal(ValidationError):
    """A service refusing a request, carrying its HTTP meaning (`status`) so that no view decodes error codes.

    Still a ValidationError: a form shows it on its fields like any other. `detail` and `field`, when given,
    are the wording the API answers with (else the messages themselves). The API's exception handler is the
    one place that turns a refusal into a response.
    """

    status = 400

    def __init__(self, message, code=None, params=None, *, detail: str = "", field: str = ""):
        super().__init__(message, code, params)
        self.detail, self.field = detail, field


class TooLarge(Refusal):
    status = 413


class UnsupportedMedia(Refusal):
    status = 415


class Duplicate(Refusal):
    status = 409


def _service_errors() -> tuple[type[BaseException], ...]:
    """Errors of clients that reach a backing service over the network: the broker, and Redis as a cache."""
    from kombu.exceptions import OperationalError as BrokerError

    errors: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, BrokerError, ConnectionError)
    try:
        import redis.exceptions
    except ImportError:
        return errors
    return errors + (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def fault_classify(exc: BaseException) -> Fault | None:
    """The fault `exc` stands for, or None when it is a bug (an ordinary 500)."""
    if isinstance(exc, _service_errors()):
        return SERVICE_UNAVAILABLE
    if isinstance(exc, RequestDataTooBig):
        return BODY_TOO_LARGE
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        return BODY_UNREADABLE
    if isinstance(exc, OSError):
        if exc.errno in _STORAGE_FULL:
            return STORAGE_FULL
        if exc.errno in _STORAGE_UNAVAILABLE:
            return STORAGE_UNAVAILABLE
    return None
