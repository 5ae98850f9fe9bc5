"""The address guard: which hosts the tracker's outbound requests may reach.

Every server-side request (feeds, JSON APIs, webhooks, apprise targets) must go through this module, so that a
hostile feed, redirect or DNS answer cannot make the tracker talk to loopback, the LAN, link-local cloud
metadata (169.254.169.254) or any other non-public address. Three layers:

* ``is_public_ip`` classifies one address, unwrapping IPv4 embedded in IPv6 (mapped, 6to4, NAT64) because
  ``ipaddress`` calls those "global" even when they carry 127.0.0.1.
* ``check_url`` / ``check_host`` are the save-time checks (a URL's shape and literal host; a name's DNS records).
* ``GuardedBackend`` / ``AsyncGuardedBackend`` are httpcore network backends that resolve, check every address
  and connect to a checked address, so the check happens at connect time on every hop: redirects and DNS
  rebinding cannot slip past it. TLS still verifies against the URL's host name, because httpcore wraps the
  returned stream with the origin host as SNI / certificate name.

This module must never let a non-public address through unless ``allow_private`` is set by the operator, and
must never send a byte before the check has passed. Refusals raise ``BlockedAddress`` (a ``ValueError``, not an
``httpx.HTTPError``: a refusal is permanent, retrying it is pointless), which propagates unchanged out of
``httpx.Client.send`` / ``AsyncClient.send``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

from tracker.settings import Settings

__all__ = [
    "AsyncGuardedBackend",
    "BadURL",
    "BlockedAddress",
    "GuardError",
    "GuardedBackend",
    "Resolver",
    "UnresolvableHost",
    "async_guarded_transport",
    "check_host",
    "check_url",
    "guarded_client",
    "guarded_transport",
    "is_public_ip",
    "resolve",
]

# A resolver maps (host, port) to the IP address strings it resolves to. Injectable so tests can play DNS.
Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local-use NAT64: embeds arbitrary IPv4 too
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_MAX_URL_LENGTH = 8192
_NUMBER_RE = re.compile(r"(0[xX][0-9a-fA-F]*|[0-9]+)")


class GuardError(ValueError):
    """Base class of every refusal from this module."""


class BadURL(GuardError):
    """A URL the tracker will not request, whatever it resolves to (scheme, userinfo, backslash, control chars)."""


class BlockedAddress(GuardError):
    """A host that is, or resolves to, a non-public address."""


class UnresolvableHost(BlockedAddress):
    """A host whose addresses cannot be checked because it does not resolve: refused, never assumed fine."""


# ---------------------------------------------------------------------------------------------------
# Classification


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr in _NAT64 or addr in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    # IPv4-compatible ::a.b.c.d (deprecated) is not global anyway; no need to unwrap it.
    return None


def is_public_ip(ip: str) -> bool:
    """True if ``ip`` is a globally routable unicast address. Anything unparsable is not public."""
    try:
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.teredo is not None:
            # Teredo tunnels to an arbitrary IPv4 behind a relay we cannot reason about: refuse outright.
            return False
        embedded = _embedded_ipv4(addr)
        if embedded is not None:
            addr = embedded
    if addr.is_multicast or not addr.is_global:
        return False
    # 100.64/10 is neither private nor global in every Python version; it is a carrier's internal network.
    return not (isinstance(addr, ipaddress.IPv4Address) and addr in _CGNAT)


# ---------------------------------------------------------------------------------------------------
# URL checks (no DNS)


def _parse_ipv4_number(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:], 16) if len(part) > 2 else 0
    if len(part) > 1 and part.startswith("0"):
        return int(part[1:], 8)
    return int(part, 10)


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host spelled like ``2130706433``, ``0x7f000001``, ``0177.0.0.1`` or ``127.1`` means.

    Resolvers (inet_aton) and browsers read these as addresses, so the guard must too. Returns None for a
    host that is a name; raises BadURL for one that looks numeric but is not a valid address.
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not parts or not _NUMBER_RE.fullmatch(parts[-1]):
        return None
    if len(parts) > 4 or not all(_NUMBER_RE.fullmatch(p) for p in parts):
        raise BadURL(f"invalid numeric host {host[:80]!r}")
    if any(len(p) > 40 for p in parts):
        raise BadURL("invalid numeric host")
    try:
        numbers = [_parse_ipv4_number(p) for p in parts]
    except ValueError:
        raise BadURL(f"invalid numeric host {host[:80]!r}") from None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise BadURL(f"invalid numeric host {host[:80]!r}")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _blocked(what: str, host: str | None = None) -> BlockedAddress:
    suffix = f" (host {host[:80]!r})" if host is not None and host != what else ""
    return BlockedAddress(f"refusing non-public address {what}{suffix}")


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse a URL by its shape and its literal host, without any DNS lookup.

    Raises BadURL for a scheme other than http/https, control characters or spaces, a backslash, user
    info (``user@host``), a missing or malformed host or port. Raises BlockedAddress for a literal host that
    is not public (IP addresses in any spelling, ``localhost``) unless ``allow_private``. A name that passes
    here is checked again at connect time, where its DNS answer is known.
    """
    if len(url) > _MAX_URL_LENGTH:
        raise BadURL("URL too long")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise BadURL("control character or space in URL")
    if "\\" in url:
        # Parsers disagree on backslashes (WHATWG treats them as "/"), which is how host confusion starts.
        raise BadURL("backslash in URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadURL(f"malformed URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadURL(f"unsupported scheme {parts.scheme[:20]!r}")
    if "@" in parts.netloc:
        raise BadURL("user info (user@host) in URL")
    host = (parts.hostname or "").lower()
    if not host:
        raise BadURL("URL has no host")
    if port == 0:
        raise BadURL("port 0")
    _check_literal_host(host, allow_private=allow_private)
    # Check the host again as httpx will send it: IDNA maps look-alikes ("127。0。0。1") to plain ASCII.
    try:
        normalized = httpx.URL(url).raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise BadURL(f"invalid URL: {exc}") from None
    if normalized != host:
        _check_literal_host(normalized, allow_private=allow_private)


def _check_literal_host(host: str, *, allow_private: bool) -> None:
    host = host.lower()
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise BadURL(f"invalid IPv6 host {host[:80]!r}") from None
        if not allow_private and not is_public_ip(host):
            raise _blocked(host)
        return
    ipv4 = _legacy_ipv4(host)
    if ipv4 is not None:
        if not allow_private and not is_public_ip(str(ipv4)):
            raise _blocked(str(ipv4), host)
        return
    bare = host.rstrip(".")
    if not allow_private and (bare == "localhost" or bare.endswith(".localhost")):
        raise _blocked("localhost", host)


# ---------------------------------------------------------------------------------------------------
# DNS checks


def resolve(host: str, port: int) -> list[str]:
    """The default resolver: every IPv4/IPv6 address of ``host`` from the system resolver, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            ip = str(sockaddr[0])
            if ip not in seen:
                seen.append(ip)
    return seen


def _vet(host: str, ips: Iterable[str], *, allow_private: bool) -> list[str]:
    """The addresses, in order, if all of them may be contacted; raises BlockedAddress otherwise."""
    checked = list(ips)
    if not checked:
        raise UnresolvableHost(f"host {host[:80]!r} has no addresses")
    if not allow_private:
        for ip in checked:
            # One private record is enough to refuse: a client picking "the public one" is a coin toss an
            # attacker controls (and rebinding flips it between lookups).
            if not is_public_ip(ip):
                raise _blocked(ip, host)
    return checked


def _literal_ip(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


def check_host(host: str, port: int, *, allow_private: bool, resolver: Resolver | None = None) -> None:
    """Refuse ``host`` unless every address it resolves to is public (or ``allow_private``).

    Raises UnresolvableHost (a BlockedAddress) when it does not resolve, BadURL for a malformed host.
    For callers whose client we do not control (apprise uses ``requests``): check just before sending.
    """
    _check_literal_host(host.strip("[]"), allow_private=allow_private)
    literal = _literal_ip(host)
    if literal is not None:
        _vet(host, [literal], allow_private=allow_private)
        return
    try:
        ips = (resolver or resolve)(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnresolvableHost(f"cannot resolve host {host[:80]!r}: {exc}") from None
    _vet(host, ips, allow_private=allow_private)


# ---------------------------------------------------------------------------------------------------
# httpcore backends


class GuardedBackend(httpcore.NetworkBackend):
    """A sync httpcore backend that connects only to checked addresses."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self._resolver = resolver or resolve
        self._inner = inner or httpcore.SyncBackend()

    def _addresses(self, host: str, port: int) -> list[str]:
        _check_literal_host(host, allow_private=self.allow_private)
        literal = _literal_ip(host)
        if literal is not None:
            return _vet(host, [literal], allow_private=self.allow_private)
        try:
            ips = self._resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve host {host[:80]!r}: {exc}") from None
        return _vet(host, ips, allow_private=self.allow_private)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for ip in self._addresses(host, port):
            try:
                return self._inner.connect_tcp(
                    ip, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise BlockedAddress("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    """The async twin of GuardedBackend (resolution runs in a worker thread, within the connect timeout)."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self._resolver = resolver or resolve
        self._inner = inner or httpcore.AnyIOBackend()

    async def _addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        _check_literal_host(host, allow_private=self.allow_private)
        literal = _literal_ip(host)
        if literal is not None:
            return _vet(host, [literal], allow_private=self.allow_private)
        try:
            with anyio.fail_after(timeout):
                ips = await anyio.to_thread.run_sync(self._resolver, host, port, abandon_on_cancel=True)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out resolving {host[:80]!r}") from None
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve host {host[:80]!r}: {exc}") from None
        return _vet(host, ips, allow_private=self.allow_private)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        last: Exception | None = None
        for ip in await self._addresses(host, port, timeout):
            try:
                return await self._inner.connect_tcp(
                    ip, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# ---------------------------------------------------------------------------------------------------
# Transports and clients


def _ssl_context(verify: ssl.SSLContext | bool) -> ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        return verify
    return httpx.create_ssl_context(verify=verify)


def _pool_kwargs(verify: ssl.SSLContext | bool, limits: httpx.Limits) -> dict[str, Any]:
    return {
        "ssl_context": _ssl_context(verify),
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
        "http1": True,
        "http2": False,
    }


def guarded_transport(
    *,
    allow_private: bool,
    resolver: Resolver | None = None,
    inner: httpcore.NetworkBackend | None = None,
    verify: ssl.SSLContext | bool = True,
    limits: httpx.Limits | None = None,
) -> httpx.HTTPTransport:
    """An httpx sync transport whose connections all go through GuardedBackend."""
    limits = limits or httpx.Limits()
    transport = httpx.HTTPTransport(verify=verify, trust_env=False, limits=limits)
    # httpx 0.28 has no public way to pick the network backend, so swap the pool it built. Pinned by
    # pyproject (httpx<0.29); tests/test_netguard.py asserts the swap still takes effect.
    transport._pool.close()
    transport._pool = httpcore.ConnectionPool(
        network_backend=GuardedBackend(allow_private=allow_private, resolver=resolver, inner=inner),
        **_pool_kwargs(verify, limits),
    )
    return transport


def async_guarded_transport(
    *,
    allow_private: bool,
    resolver: Resolver | None = None,
    inner: httpcore.AsyncNetworkBackend | None = None,
    verify: ssl.SSLContext | bool = True,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncHTTPTransport:
    """An httpx async transport whose connections all go through AsyncGuardedBackend."""
    limits = limits or httpx.Limits()
    transport = httpx.AsyncHTTPTransport(verify=verify, trust_env=False, limits=limits)
    transport._pool = httpcore.AsyncConnectionPool(  # see guarded_transport
        network_backend=AsyncGuardedBackend(allow_private=allow_private, resolver=resolver, inner=inner),
        **_pool_kwargs(verify, limits),
    )
    return transport


def client_timeout(settings: Settings) -> httpx.Timeout:
    """Per-operation timeouts from the settings (the total deadline is the caller's job)."""
    return httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.read_timeout,
        pool=settings.connect_timeout,
    )


def guarded_client(settings: Settings, *, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """A sync httpx client for the alert notifiers: guarded, no redirects, no proxy/env, our User-Agent.

    Redirects are off: a webhook receiver has no business redirecting us, and a followed redirect would be
    a second target nobody validated at save time (it would still be guarded at connect, but refused late).
    """
    return httpx.Client(
        transport=transport or guarded_transport(allow_private=settings.allow_private_networks),
        timeout=client_timeout(settings),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": settings.user_agent},
    )
