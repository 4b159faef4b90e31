"""Rate limits: per token for integrations, per user for the portal's session calls, per address otherwise."""
from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle

from ..models import ApiToken


class ApiRateThrottle(SimpleRateThrottle):
    """One bucket per API token (scope `token`), per signed-in user (`user`) or per client address (`anon`).

    Rates are REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]; counts live in the default cache, which must be
    shared by all web processes (Redis) for the limit to hold across them.
    """

    def __init__(self):
        # The scope, and so the rate, depends on the request: chosen in allow_request.
        self.ident = None

    def allow_request(self, request, view):
        if isinstance(request.auth, ApiToken):
            self.scope, self.ident = "token", f"token-{request.auth.pk}"
        elif request.user is not None and request.user.is_authenticated:
            self.scope, self.ident = "user", f"user-{request.user.pk}"
        else:
            self.scope, self.ident = "anon", self.get_ident(request)
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.ident}
