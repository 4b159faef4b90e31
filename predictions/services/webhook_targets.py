"""Which URLs a webhook may call: the one rule, checked when an endpoint is registered or changed and again
before each delivery (a name can resolve elsewhere by then).

A clinic administrator chooses the URL and the server makes the request, so without this rule the server
could be aimed at itself, its cloud's metadata service (169.254.169.254) or the hospital's private network.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

# Names that reach the host itself or a cloud's metadata service, whatever they resolve to here.
_REFUSED_NAMES = {"localhost", "metadata", "metadata.google.internal", "instance-data"}
# Suffixes reserved for private or host-local names (RFC 6761, RFC 6762, ICANN's .internal).
_REFUSED_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


class WebhookTargetRefused(Exception):
    """The URL may not be a webhook target; the message says why in words that reveal nothing about the network."""


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])  # drop an IPv6 zone
    if ip.version == 6 and ip.ipv4_mapped is not None:  # ::ffff:127.0.0.1 is 127.0.0.1
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def webhook_target_check(url: str) -> None:
    """Raise WebhookTargetRefused unless `url` is an https URL, without a user name or password, whose host
    is not a private or host-local name and resolves only to public addresses.

    With SKINCLINIC_WEBHOOK_ALLOW_INSECURE (local development) only the credentials are refused.
    """
    try:
        parts = urlsplit(url)
        hostname, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number
        raise WebhookTargetRefused("Enter a valid URL.") from None
    # Credentials in the URL would sit in the database, the audit trail and logs: refused everywhere.
    if parts.username is not None or parts.password is not None:
        raise WebhookTargetRefused("Webhook URLs may not contain a user name or password.")
    if settings.SKINCLINIC_WEBHOOK_ALLOW_INSECURE:
        return
    if parts.scheme != "https":
        raise WebhookTargetRefused("Webhook URLs must use https.")
    if not hostname:
        raise WebhookTargetRefused("Enter a valid URL.")
    name = hostname.rstrip(".").lower()
    if name in _REFUSED_NAMES or name.endswith(_REFUSED_SUFFIXES):
        raise WebhookTargetRefused("The URL's host is not a public address.")
    try:
        # Resolving catches every spelling of an address (2130706433, 0x7f.1, a name pointing inwards).
        # An IPv4 or IPv6 address is a str (typeshed's int is the AF_INET6 form of a Python built without IPv6).
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(name, port or 443, proto=socket.IPPROTO_TCP)}
    except (socket.gaierror, UnicodeError):
        raise WebhookTargetRefused("The URL's host could not be resolved.") from None
    if not addresses or not all(_address_is_public(address) for address in addresses):
        raise WebhookTargetRefused("The URL's host is not a public address.")


# --- At connection time ----------------------------------------------------------------------------------------
# The check above resolves the name; the request resolves it again, and a name with a short TTL can answer
# a public address to the first and 169.254.169.254 to the second (DNS rebinding). So the connection itself
# resolves once, refuses unless every address is public, and connects to the addresses it checked.


class _PublicAddressConnectionMixin:
    address_allowed = staticmethod(_address_is_public)

    def _new_conn(self):
        try:
            addresses = [info[4][0] for info in socket.getaddrinfo(self._dns_host, self.port, type=socket.SOCK_STREAM)]
        except (socket.gaierror, UnicodeError) as exc:
            raise NewConnectionError(self, f"could not resolve {self._dns_host}: {exc}") from exc
        if not addresses or not all(self.address_allowed(address) for address in addresses):
            raise NewConnectionError(self, f"refused: {self._dns_host} resolves to an address that is not public")
        name, self._dns_host = self._dns_host, addresses[0]  # TLS still checks the certificate against the name
        try:
            return super()._new_conn()
        finally:
            self._dns_host = name


class _PublicHTTPConnection(_PublicAddressConnectionMixin, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicAddressConnectionMixin, HTTPSConnection):
    pass


class _PublicHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class PublicAddressAdapter(HTTPAdapter):
    """A requests adapter whose direct connections reach public addresses only (an outbound proxy, when one
    is configured, resolves and connects for itself)."""

    pool_classes = {"http": _PublicHTTPConnectionPool, "https": _PublicHTTPSConnectionPool}

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self.pool_classes)
