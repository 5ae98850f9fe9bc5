"""The tracker's one HTTP client for sources: ``await Fetcher(settings).fetch(url, etag=, last_modified=)``.

It owns everything about getting bytes from a hostile network: the address guard on every connection
(tracker.netguard), per-operation timeouts plus a total deadline that covers redirects and slow drips,
redirects followed by hand and checked per hop, a cap on raw and decoded body size with our own bounded
decoder (httpx's decoders are unbounded per chunk: one 590-byte ``gzip, gzip`` response decodes to 256 MB),
conditional GET with validators echoed byte-for-byte, Retry-After, per-host / global concurrency limits and
per-host spacing between requests (``host_spacing``).

``fetch`` must never raise (every failure becomes ``FetchResult.error``, a short message safe to show), never
follow a redirect to anything but http/https, never hold more than the cap of decoded body in memory, never
read proxies or certificates from the environment, and never parse what it fetched: bytes go to the caller.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Self

import httpcore
import httpx

from tracker import netguard
from tracker.settings import Settings

__all__ = ["ACCEPT", "FetchResult", "Fetcher", "parse_retry_after"]

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, "
    "text/xml;q=0.9, application/json;q=0.9, application/feed+json;q=0.9, */*;q=0.5"
)
# Only what the bounded decoder below understands; httpx would otherwise advertise br/zstd when installed.
ACCEPT_ENCODING = "gzip, deflate"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_AFTER_STATUSES = frozenset({429, 503})
RETRY_AFTER_CAP = timedelta(hours=24)
_MAX_ERROR_LENGTH = 200
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(slots=True)
class FetchResult:
    """What one fetch produced.

    ``etag`` / ``last_modified`` are the validators to store after a success (None = store none: the
    response had none, or said ``Expires: 0`` / ``Cache-Control: no-store``). On a 304 they are the
    response's new values, else the ones sent. On an error they are the ones passed in, unchanged, so a
    caller that stores them blindly keeps what it had.
    """

    url: str
    final_url: str
    status: int | None = None
    body: bytes | None = None
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    error: str | None = None
    retry_after: datetime | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class _FetchFailed(Exception):
    """A failure with a ready message (and maybe a status), raised inside a fetch and turned into a result."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _clean(text: str) -> str:
    # Messages can carry server-provided text (a Location, a TLS peer's complaint): keep them one short line.
    text = _CONTROL_RE.sub(" ", text).strip()
    return text if len(text) <= _MAX_ERROR_LENGTH else text[: _MAX_ERROR_LENGTH - 1] + "…"


def _size(n: int) -> str:
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """When a ``Retry-After`` value (seconds or HTTP-date) says to come back, as aware UTC.

    Capped at ``now`` + 24 h so a hostile server cannot park a source forever; garbage, negative numbers
    and dates in the past give None (the caller's normal backoff applies).
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # Long digit strings would trip int()'s digit limit; anything past a day is capped anyway.
        seconds = int(value) if len(value) <= 9 else 10**9
        return now + min(timedelta(seconds=seconds), RETRY_AFTER_CAP)
    if not value or len(value) > 100:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    if when <= now:
        return None
    return min(when, now + RETRY_AFTER_CAP)


def _header_latin1(response: httpx.Response, name: bytes) -> str | None:
    # Validators must go back byte-for-byte; latin-1 maps every byte to one character and back.
    for key, value in response.headers.raw:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _encode_validator(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _forbids_validators(response: httpx.Response) -> bool:
    if response.headers.get("expires", "").strip() == "0":
        return True
    cache_control = response.headers.get("cache-control", "").lower()
    return any(d.strip() == "no-store" for d in cache_control.split(","))


class _BoundedDecoder:
    """Content-Encoding decoding that never produces more than ``limit`` bytes, whatever the input ratio."""

    def __init__(self, coding: str, limit: int) -> None:
        self.limit = limit
        self.produced = 0
        self._coding = coding
        self._z: zlib._Decompress | None = None
        self._pending = b""  # deflate: the first bytes, until we know zlib-wrapped from raw
        if coding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _too_large(self) -> _FetchFailed:
        return _FetchFailed(f"body too large (> {_size(self.limit)})")

    def _inflate(self, data: bytes) -> bytes:
        assert self._z is not None
        if self._z.eof:
            return b""  # trailing bytes after the stream (or a second gzip member) are ignored
        try:
            out = self._z.decompress(data, self.limit - self.produced + 1)
        except zlib.error as exc:
            raise _FetchFailed(f"bad {self._coding} body: {exc}") from None
        self.produced += len(out)
        # A full output buffer means there was more to come: over the cap either way.
        if self.produced > self.limit:
            raise self._too_large()
        return out

    def feed(self, data: bytes) -> bytes:
        if self._coding == "identity":
            self.produced += len(data)
            if self.produced > self.limit:
                raise self._too_large()
            return data
        if self._z is None:  # deflate, format still unknown
            self._pending += data
            if len(self._pending) < 2:
                return b""
            first, second = self._pending[0], self._pending[1]
            zlib_wrapped = first & 0x0F == 8 and (first * 256 + second) % 31 == 0
            # RFC 9110 says zlib-wrapped, but servers often send raw deflate; the header check tells them apart.
            self._z = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
            data, self._pending = self._pending, b""
        return self._inflate(data)

    def finish(self) -> bytes:
        if self._coding == "identity":
            return b""
        if self._z is None:
            if self._pending:
                raise _FetchFailed(f"truncated {self._coding} body")
            return b""
        out = b""
        if not self._z.eof:
            try:
                out = self._z.flush()
            except zlib.error as exc:
                raise _FetchFailed(f"bad {self._coding} body: {exc}") from None
            if not self._z.eof:
                raise _FetchFailed(f"truncated {self._coding} body")
        self.produced += len(out)
        if self.produced > self.limit:
            raise self._too_large()
        return out


def _coding_of(response: httpx.Response) -> str:
    raw = ",".join(response.headers.get_list("content-encoding"))
    codings = [c.strip().lower() for c in raw.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return "identity"
    if len(codings) > 1:
        # Stacking multiplies bomb ratios and no legitimate feed server needs it.
        raise _FetchFailed(f"unsupported content encoding {_clean(raw)!r} (more than one coding)")
    if codings[0] not in ("gzip", "x-gzip", "deflate"):
        raise _FetchFailed(f"unsupported content encoding {codings[0][:30]!r}")
    return codings[0]


def _describe(exc: BaseException, settings: Settings) -> str:
    """A short message for an exception from inside a fetch."""
    if isinstance(exc, _FetchFailed):
        return exc.message
    if isinstance(exc, netguard.GuardError):
        return _clean(str(exc))
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timeout after {_seconds(settings.connect_timeout)} s"
    if isinstance(exc, httpx.ReadTimeout):
        return f"read timeout after {_seconds(settings.read_timeout)} s"
    if isinstance(exc, httpx.WriteTimeout):
        return f"write timeout after {_seconds(settings.read_timeout)} s"
    if isinstance(exc, httpx.PoolTimeout):
        return "timeout waiting for a connection"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return _clean(f"TLS certificate error: {cause.verify_message or cause.reason}")
        if isinstance(cause, ssl.SSLError):
            return _clean(f"TLS error: {cause.reason or cause}")
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.InvalidURL):
        return _clean(f"invalid URL: {exc}")
    if isinstance(exc, httpx.ConnectError):
        return _clean(f"connection failed: {exc}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return _clean(f"connection broken: {exc}")
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return _clean(f"connection error: {exc or type(exc).__name__}")
    if isinstance(exc, httpx.HTTPError | httpcore.NetworkError):
        return _clean(f"{type(exc).__name__}: {exc}")
    return _clean(f"unexpected {type(exc).__name__}: {exc}")


class Fetcher:
    """Fetches source URLs concurrently and safely; one per process (or per cycle), closed with ``aclose``.

    ``transport`` replaces the guarded transport, for tests only: whatever is passed is trusted as is.
    """

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        if transport is None:
            transport = netguard.async_guarded_transport(
                allow_private=settings.allow_private_networks,
                limits=httpx.Limits(
                    max_connections=settings.max_concurrency,
                    max_keepalive_connections=min(settings.max_concurrency, 20),
                ),
            )
        # No cookie is ever stored: sources are fetched anonymously and one feed cannot set state for others.
        no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=netguard.client_timeout(settings),
            follow_redirects=False,
            trust_env=False,
            cookies=no_cookies,
            headers={"User-Agent": settings.user_agent},
            event_hooks={"response": [self._vet_redirect]},
        )
        self._global: asyncio.Semaphore | None = None
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._next_start: dict[str, float] = {}  # per spaced host: monotonic time the next request may start

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    @staticmethod
    def _host(url: str) -> str:
        try:
            return (httpx.URL(url).host or "").lower()
        except Exception:
            return ""

    def _host_semaphore(self, host: str) -> asyncio.Semaphore:
        sem = self._hosts.get(host)
        if sem is None:
            sem = self._hosts[host] = asyncio.Semaphore(self.settings.per_host_limit)
        return sem

    async def _keep_spacing(self, host: str) -> None:
        """Wait for this host's turn when it asks for time between requests (``host_spacing``; GDELT: 5 s).

        Called with the host's and a global slot held, right before the request goes out, so the booked time
        is the real start: fetches to one host start ``spacing`` apart however long each takes or waits for a
        slot. A fetch cancelled while it waits gives its turn back when nobody booked after it.
        """
        spacing = self.settings.host_spacing.get(host)
        if not spacing:
            return
        now = time.monotonic()
        before = self._next_start.get(host, now)
        start = max(now, before)
        self._next_start[host] = start + spacing
        if start <= now:
            return
        try:
            await asyncio.sleep(start - now)
        except asyncio.CancelledError:
            if self._next_start.get(host) == start + spacing:
                self._next_start[host] = before
            raise

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        now: datetime | None = None,
    ) -> FetchResult:
        """GET ``url`` (conditionally when validators are given). Never raises; see FetchResult."""
        result = FetchResult(url=url, final_url=url, etag=etag, last_modified=last_modified)
        if self._global is None:
            self._global = asyncio.Semaphore(self.settings.max_concurrency)
        started = time.monotonic()
        deadline: asyncio.Timeout | None = None
        host = self._host(url)
        try:
            # Host slot first, then a global one: a queue for one busy host must not hold global slots.
            async with self._host_semaphore(host), self._global:
                await self._keep_spacing(host)
                # Started here, so the deadline and `elapsed` cover the fetch, not the wait for a slot or a turn.
                started = time.monotonic()
                deadline = asyncio.timeout(self.settings.fetch_deadline)
                async with deadline:
                    await self._fetch(result, now or datetime.now(UTC))
        except TimeoutError as exc:
            if deadline is not None and deadline.expired():
                message = f"timeout after {_seconds(self.settings.fetch_deadline)} s"
            else:
                message = _describe(exc, self.settings)
            self._fail(result, message, etag, last_modified)
        except Exception as exc:
            status = exc.status if isinstance(exc, _FetchFailed) else None
            self._fail(result, _describe(exc, self.settings), etag, last_modified, status)
        result.elapsed = time.monotonic() - started
        return result

    @staticmethod
    def _fail(
        result: FetchResult,
        message: str,
        etag: str | None,
        last_modified: str | None,
        status: int | None = None,
    ) -> None:
        result.error = message
        result.body = None
        result.not_modified = False
        result.etag, result.last_modified = etag, last_modified
        if status is not None:
            result.status = status

    def _headers(self, etag: str | None, last_modified: str | None) -> list[tuple[bytes, bytes]]:
        headers = [(b"Accept", ACCEPT.encode()), (b"Accept-Encoding", ACCEPT_ENCODING.encode())]
        if etag:
            headers.append((b"If-None-Match", _encode_validator(etag)))
        if last_modified:
            headers.append((b"If-Modified-Since", _encode_validator(last_modified)))
        return headers

    async def _fetch(self, result: FetchResult, now: datetime) -> None:
        settings = self.settings
        allow_private = settings.allow_private_networks
        headers = self._headers(result.etag, result.last_modified)
        current = result.url
        for _hop in range(settings.max_redirects + 1):
            result.final_url = current
            # Literal checks before httpx parses the URL: clearer errors, and octal hosts are refused, not
            # mis-parsed. The connect-time check in the backend stays the one that matters.
            netguard.check_url(current, allow_private=allow_private)
            request = self._client.build_request("GET", current, headers=headers)
            response = await self._client.send(request, stream=True)
            try:
                result.status = response.status_code
                if response.status_code in REDIRECT_STATUSES:
                    current = self._redirect_target(current, response)
                    continue
                await self._finish(result, response, now)
                return
            finally:
                await response.aclose()
        raise _FetchFailed("too many redirects", result.status)

    async def _vet_redirect(self, response: httpx.Response) -> None:
        # httpx parses Location itself even with follow_redirects=False (to fill `next_request`) and a hostile
        # one makes it raise InvalidURL; checking first here (hooks run before that) keeps the message clear.
        if response.has_redirect_location:
            self._redirect_target(str(response.request.url), response)

    @staticmethod
    def _redirect_target(current: str, response: httpx.Response) -> str:
        location = response.headers.get("location")
        if not location:
            raise _FetchFailed(f"HTTP {response.status_code} redirect without Location", response.status_code)
        try:
            target = httpx.URL(current).join(location.strip())
        except Exception:
            raise _FetchFailed("bad redirect Location", response.status_code) from None
        if target.scheme not in ("http", "https"):
            raise _FetchFailed(f"unsupported redirect scheme {_clean(target.scheme[:20])!r}", response.status_code)
        return str(target)

    async def _finish(self, result: FetchResult, response: httpx.Response, now: datetime) -> None:
        status = response.status_code
        result.content_type = _clean(response.headers.get("content-type", ""))
        if status == 304:
            result.not_modified = True
            result.body = None
            self._take_validators(result, response, keep_sent=True)
            return
        if status >= 400 or not 200 <= status < 300:
            if status in RETRY_AFTER_STATUSES:
                result.retry_after = parse_retry_after(response.headers.get("retry-after"), now)
            raise _FetchFailed(f"HTTP {status}", status)
        result.body = await self._read_body(response)
        self._take_validators(result, response, keep_sent=False)

    @staticmethod
    def _take_validators(result: FetchResult, response: httpx.Response, *, keep_sent: bool) -> None:
        if _forbids_validators(response):
            result.etag = result.last_modified = None
            return
        etag = _header_latin1(response, b"etag")
        last_modified = _header_latin1(response, b"last-modified")
        if keep_sent:
            # A 304 may omit validators it did not change (RFC 9110 §15.4.5): keep the ones we sent.
            result.etag = etag if etag is not None else result.etag
            result.last_modified = last_modified if last_modified is not None else result.last_modified
        else:
            result.etag, result.last_modified = etag, last_modified

    async def _read_body(self, response: httpx.Response) -> bytes:
        limit = self.settings.max_body_bytes
        declared = response.headers.get("content-length", "").strip()
        coding = _coding_of(response)
        if declared.isascii() and declared.isdigit() and len(declared) < 30 and int(declared) > limit:
            raise _FetchFailed(f"body too large (> {_size(limit)})")
        decoder = _BoundedDecoder(coding, limit)
        parts: list[bytes] = []
        raw_total = 0
        async for chunk in response.aiter_raw():
            raw_total += len(chunk)
            if raw_total > limit:
                raise _FetchFailed(f"body too large (> {_size(limit)})")
            out = decoder.feed(chunk)
            if out:
                parts.append(out)
        tail = decoder.finish()
        if tail:
            parts.append(tail)
        return b"".join(parts)
