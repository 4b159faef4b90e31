"""Authentication backends: the sign-in lockout in front of Django's own (settings.AUTHENTICATION_BACKENDS)."""

from axes.backends import AxesStandaloneBackend


class SignInLockoutBackend(AxesStandaloneBackend):
    """Refuses every sign-in (right password or not) from a locked-out account or address (django-axes).

    A check without a request is no sign-in over HTTP (the portal and the admin site always pass one) but a
    call from code, such as the test client's login(): there is no address to count, so it is let through.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
