"""Notifications: the outbox delivery loop and its three senders (webhook, SMTP e-mail, apprise).

Evaluation writes ``notifications`` rows in the transaction of the state change; ``deliver_pending`` sends the
due ones afterwards (at-least-once: a crash between the send and its bookkeeping sends again, and receivers
deduplicate on the event id). One delivery makes a few quick tenacity retries on timeouts, network errors,
408, 429 and 5xx; after that the row is rescheduled with a growing delay and tried again by a later cycle,
up to ``MAX_ATTEMPTS``.

Every target passes the address guard (``tracker.netguard``) when a rule is saved (``check_target``) and again
when it is sent to, unless ``settings.allow_private_networks``. Webhooks go through the guarded httpx client
(checked at connect time, redirects off); apprise and SMTP use clients we do not control, so their host is
checked just before sending. Feed text (headline titles) is data: it is put in JSON bodies and plain-text
mail bodies only, never in a mail header and never through a template. This module must never raise out of
``deliver_pending`` or ``send_test``.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import logging
import random
import re
import smtplib
import ssl
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from sqlalchemy.engine import Engine
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential_jitter

from tracker import netguard
from tracker.alerts.rules import Notify, channel_kind
from tracker.settings import Settings
from tracker.store import alerts as store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # delivery cycles before a notification is given up as failed
RETRIES_PER_ATTEMPT = 3  # quick tenacity tries inside one delivery
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
RETRY_AFTER_MAX = timedelta(hours=6)
LEASE = timedelta(minutes=10)
_RETRY_STATUS = {408, 429}
_EMAIL_RE = re.compile(r"^[^@\s<>(),;:\"\[\]]{1,64}@[A-Za-z0-9.-]{1,253}$")

# apprise schemes whose URL host is the server we connect to: that host is checked like a webhook's.
APPRISE_HOSTED = {
    "json",
    "jsons",
    "xml",
    "xmls",
    "form",
    "forms",
    "ntfy",
    "ntfys",
    "gotify",
    "gotifys",
    "mmost",
    "mmosts",
    "rocket",
    "rockets",
    "apprise",
    "apprises",
}
# apprise schemes that always talk to the service's own public API (the URL "host" is a token or an id).
APPRISE_FIXED = {"tgram", "discord", "slack", "msteams", "pover", "pbul"}


class DeliveryError(Exception):
    """One failed send. ``retryable`` false means trying again cannot help (refused target, 4xx, bad URL)."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


# ---------------------------------------------------------------------------------------------------
# Target checks


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _apprise_target(url: str) -> tuple[str, str | None, int]:
    """(scheme, host to check or None for fixed public services, port) of an apprise URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"malformed apprise URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme in APPRISE_FIXED:
        return scheme, None, 443
    if scheme not in APPRISE_HOSTED:
        accepted = ", ".join(sorted(APPRISE_HOSTED | APPRISE_FIXED))
        raise ValueError(f"unsupported channel scheme {scheme[:20]!r}: use http(s)://, mailto: or one of {accepted}")
    if scheme in ("ntfy", "ntfys") and parts.path in ("", "/"):
        return scheme, None, 443  # ntfy://topic goes to the public ntfy.sh
    host = parts.hostname or ""
    if not host:
        raise ValueError("apprise URL has no host")
    return scheme, host, port or (443 if scheme.endswith("s") else 80)


def mail_recipients(url: str) -> list[str]:
    """The addresses of a ``mailto:`` target; ValueError when one is not a plain address."""
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError("mailto: channels take addresses only (no ?subject= or other fields)")
    raw = unquote(parts.path)
    if any(ord(c) < 0x20 for c in raw):
        raise ValueError("mailto: address contains control characters")
    addresses = [a.strip() for a in raw.split(",") if a.strip()]
    if not addresses:
        raise ValueError("mailto: channel has no address")
    for a in addresses:
        if not _EMAIL_RE.match(a):
            raise ValueError(f"{a[:80]!r} is not an e-mail address")
    return addresses


def check_target(url: str, settings: Settings) -> None:
    """The save-time check of a channel: its shape, and its host unless private networks are allowed.

    Raises ValueError (netguard's GuardError is one) with a message fit for the user. Names are not resolved
    here (the send-time checks do that), so saving a rule works offline; literal addresses and ``localhost``
    are refused at once.
    """
    allow = settings.allow_private_networks
    kind = channel_kind(url)
    if kind == "webhook":
        netguard.check_url(url, allow_private=allow)
    elif kind == "email":
        mail_recipients(url)
        if not settings.smtp_host:
            raise ValueError("mailto: channels need smtp_host in the settings")
        netguard.check_url(f"http://{_bracket(settings.smtp_host)}:{settings.smtp_port}/", allow_private=allow)
    else:
        _scheme, host, port = _apprise_target(url)
        if host is not None:
            netguard.check_url(f"http://{_bracket(host)}:{port}/", allow_private=allow)


# ---------------------------------------------------------------------------------------------------
# Senders


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), int(RETRY_AFTER_MAX.total_seconds())))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, min((when - datetime.now(UTC)).total_seconds(), RETRY_AFTER_MAX.total_seconds()))


def send_webhook(client: httpx.Client, settings: Settings, url: str, body: str, event_id: str) -> None:
    """POST ``body`` (the stored JSON, signed byte for byte) to ``url``; DeliveryError on failure."""
    data = body.encode("utf-8")
    headers = {"Content-Type": "application/json", "X-Tracker-Event-Id": event_id}
    if settings.webhook_secret is not None:
        headers["X-Tracker-Signature"] = sign(settings.webhook_secret.get_secret_value(), data)
    try:
        netguard.check_url(url, allow_private=settings.allow_private_networks)
        # Streamed and closed unread: a receiver's answer body is of no use, and reading it would let a
        # hostile one drip or inflate it at us.
        with client.stream("POST", url, content=data, headers=headers) as response:
            status = response.status_code
            retry_after = response.headers.get("Retry-After")
    except netguard.GuardError as exc:
        raise DeliveryError(str(exc), retryable=False) from None
    except httpx.InvalidURL as exc:
        raise DeliveryError(f"invalid URL: {exc}", retryable=False) from None
    except httpx.TimeoutException:
        raise DeliveryError("timeout", retryable=True) from None
    except httpx.TransportError as exc:
        raise DeliveryError(f"network error: {type(exc).__name__}: {exc}", retryable=True) from None
    if 200 <= status < 300:
        return
    if status in _RETRY_STATUS or status >= 500:
        raise DeliveryError(f"HTTP {status}", retryable=True, retry_after=_retry_after(retry_after))
    if 300 <= status < 400:
        raise DeliveryError(f"HTTP {status}: redirects are not followed for webhooks", retryable=False)
    raise DeliveryError(f"HTTP {status}", retryable=False)


def _summary_lines(payload: dict[str, Any]) -> list[str]:
    rule = payload.get("rule") or {}
    window = payload.get("window") or {}
    value = payload.get("value")
    lines = [
        str(payload.get("message", "")),
        "",
        f"Rule: {rule.get('name')} ({rule.get('metric')} over {rule.get('window')} for {rule.get('topic')} "
        f"{rule.get('op')} {rule.get('threshold')})",
        f"Value: {'no data' if value is None else value}",
        f"Window: {window.get('start')} to {window.get('end')}",
        f"State: {(payload.get('state') or {}).get('from')} -> {(payload.get('state') or {}).get('to')}",
        f"Event id: {payload.get('event_id')}",
    ]
    headlines = payload.get("headlines") or []
    if headlines:
        lines += ["", "Headlines behind it:"]
        for h in headlines:
            lines.append(f"- {h.get('title', '')}" + (f"\n  {h['url']}" if h.get("url") else ""))
    return lines


def subject_of(payload: dict[str, Any]) -> str:
    """The mail subject / push title, from the rule's own fields only (never from feed text)."""
    rule = payload.get("rule") or {}
    reason = str(payload.get("reason", "alert")).upper()
    prefix = "[tracker test] " if payload.get("test") else "[tracker] "
    subject = f"{prefix}{reason}: {rule.get('name', '')}"
    # The name is validated free of control characters; this keeps a hand-edited row from breaking headers.
    return re.sub(r"[\x00-\x1f\x7f]", " ", subject)[:200]


def send_email(settings: Settings, url: str, payload: dict[str, Any]) -> None:
    try:
        recipients = mail_recipients(url)
    except ValueError as exc:
        raise DeliveryError(str(exc), retryable=False) from None
    host = settings.smtp_host
    if not host:
        raise DeliveryError("smtp_host is not configured", retryable=False)
    try:
        netguard.check_host(host, settings.smtp_port, allow_private=settings.allow_private_networks)
    except netguard.UnresolvableHost as exc:
        raise DeliveryError(str(exc), retryable=True) from None
    except netguard.GuardError as exc:
        raise DeliveryError(str(exc), retryable=False) from None
    msg = EmailMessage()
    try:
        msg["Subject"] = subject_of(payload)
        msg["From"] = settings.smtp_from
        msg["To"] = ", ".join(recipients)
        msg["Date"] = email.utils.formatdate(usegmt=True)
        msg["Message-ID"] = f"<{payload.get('event_id', 'x')}@ai-bubble-tracker>"
    except ValueError as exc:  # EmailMessage refuses CR/LF in a header value
        raise DeliveryError(f"bad mail header: {exc}", retryable=False) from None
    msg.set_content("\n".join(_summary_lines(payload)) + "\n")
    timeout = settings.connect_timeout + settings.read_timeout
    try:
        smtp: smtplib.SMTP
        if settings.smtp_tls == "ssl":
            smtp = smtplib.SMTP_SSL(host, settings.smtp_port, timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, settings.smtp_port, timeout=timeout)
        with smtp:
            if settings.smtp_tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                smtp.login(settings.smtp_username, password)
            smtp.send_message(msg, from_addr=settings.smtp_from, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"recipients refused: {list(exc.recipients)[:3]}", retryable=False) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {exc.smtp_code}", retryable=exc.smtp_code < 500) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP error: {type(exc).__name__}: {exc}", retryable=True) from None


def _check_apprise(url: str, settings: Settings) -> None:
    try:
        _scheme, host, port = _apprise_target(url)
        if host is not None:
            netguard.check_host(host, port, allow_private=settings.allow_private_networks)
    except netguard.UnresolvableHost as exc:
        raise DeliveryError(str(exc), retryable=True) from None
    except ValueError as exc:
        raise DeliveryError(str(exc), retryable=False) from None


def send_apprise(settings: Settings, url: str, payload: dict[str, Any]) -> None:
    # apprise sends with its own client (requests), outside the connect-time guard: check before add() and
    # again right before notify(), the last moment we control.
    _check_apprise(url, settings)
    with warnings.catch_warnings():
        # apprise's plugin loading imports modules deprecated in 3.11 (imghdr): not ours to fix, not an error.
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        # apprise follows HTTP redirects by default, to wherever they point: our check saw only the first
        # host. Never follow one (asset default, then each plugin, since a URL's ?redirect=yes would win).
        app = apprise.Apprise(asset=apprise.AppriseAsset(http_redirects=False))
        if not app.add(url):
            raise DeliveryError("apprise does not understand this URL", retryable=False)
        for plugin in app:
            plugin.redirects = False
        _check_apprise(url, settings)
        ok = app.notify(title=subject_of(payload), body="\n".join(_summary_lines(payload)))
    if not ok:
        raise DeliveryError("apprise could not deliver (see the log)", retryable=True)


# ---------------------------------------------------------------------------------------------------
# The delivery loop


@dataclass
class DeliveryReport:
    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)


def _send_once(row: Any, settings: Settings, client: httpx.Client) -> None:
    kind = channel_kind(row.channel)
    if kind == "webhook":
        send_webhook(client, settings, row.channel, row.payload, row.event_id)
        return
    try:
        payload = json.loads(row.payload)
    except ValueError:
        raise DeliveryError("stored payload is not JSON", retryable=False) from None
    if kind == "email":
        send_email(settings, row.channel, payload)
    else:
        send_apprise(settings, row.channel, payload)


def _deliver(row: Any, settings: Settings, client: httpx.Client, sleep: Callable[[float], None]) -> None:
    """One delivery with a few quick retries; raises the last DeliveryError."""

    def retryable(exc: BaseException) -> bool:
        # A long Retry-After is honoured by rescheduling, not by holding the loop.
        return isinstance(exc, DeliveryError) and exc.retryable and (exc.retry_after or 0) <= 5

    for attempt in Retrying(
        stop=stop_after_attempt(RETRIES_PER_ATTEMPT) | stop_after_delay(settings.fetch_deadline),
        wait=wait_exponential_jitter(multiplier=0.5, max=4, jitter=0.5),
        retry=retry_if_exception(retryable),
        sleep=sleep,
        reraise=True,
    ):
        with attempt:
            _send_once(row, settings, client)


def next_attempt(attempts: int, now: datetime, retry_after: float | None) -> datetime:
    delay = min(BACKOFF_BASE * (2 ** max(0, attempts - 1)), BACKOFF_MAX)
    delay = delay * random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), RETRY_AFTER_MAX))
    return now + delay


def deliver_pending(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime,
    limit: int = 100,
    ids: Iterable[int] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    client: httpx.Client | None = None,
    budget_seconds: float = 120.0,
) -> DeliveryReport:
    """Send the due outbox rows (or only ``ids``). Never raises: failures are recorded on the rows and returned.

    Stops starting new sends after ``budget_seconds`` (the pipeline waits for this); the rows it did not reach
    are handed back for the next cycle.
    """
    report = DeliveryReport()
    try:
        with engine.begin() as conn:
            rows = store.due_notifications(conn, now=now, limit=limit, ids=ids)
            store.lease_notifications(conn, [r.id for r in rows], until=now + LEASE)
    except Exception as exc:
        log.exception("reading the alert outbox failed")
        report.errors.append(f"reading the outbox failed: {type(exc).__name__}: {exc}"[:500])
        return report
    if not rows:
        return report
    own_client = client is None
    try:
        http = client or netguard.guarded_client(settings)
    except Exception as exc:
        log.exception("building the notification client failed")
        report.errors.append(f"building the HTTP client failed: {type(exc).__name__}: {exc}"[:500])
        _release(engine, [r.id for r in rows], now)
        return report
    deadline = time.monotonic() + budget_seconds
    try:
        for index, row in enumerate(rows):
            if time.monotonic() > deadline:
                _release(engine, [r.id for r in rows[index:]], now)
                report.errors.append(
                    f"delivery budget of {budget_seconds:g}s spent: {len(rows) - index} left for later"
                )
                break
            report.attempted += 1
            attempts = row.attempts + 1
            result: dict[str, Any] = {"id": row.id, "event_id": row.event_id, "channel": row.channel}
            try:
                _deliver(row, settings, http, sleep)
            except Exception as exc:
                err = (
                    exc
                    if isinstance(exc, DeliveryError)
                    else DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True)
                )
                give_up = not err.retryable or attempts >= MAX_ATTEMPTS
                status = "failed" if give_up else "pending"
                nxt = None if give_up else next_attempt(attempts, now, err.retry_after)
                delivered_at = None
                message: str | None = str(err)
                if give_up:
                    report.failed += 1
                else:
                    report.retrying += 1
                log.warning("alert notification %s to %s: %s (%s)", row.event_id, kind_label(row.channel), err, status)
            else:
                status, nxt, delivered_at, message = "delivered", None, now, None
                report.delivered += 1
            result.update(status=status, attempts=attempts, error=message)
            report.results.append(result)
            try:
                with engine.begin() as conn:
                    store.record_delivery(
                        conn,
                        row.id,
                        status=status,
                        attempts=attempts,
                        next_attempt_at=nxt,
                        delivered_at=delivered_at,
                        last_error=message,
                    )
            except Exception as exc:
                # The lease expires and the row is sent again: at-least-once, receivers dedupe on the event id.
                log.exception("recording an alert delivery failed")
                report.errors.append(f"recording delivery {row.id} failed: {type(exc).__name__}: {exc}"[:500])
    finally:
        if own_client:
            http.close()
    return report


def _release(engine: Engine, ids: list[int], now: datetime) -> None:
    """Hand leased rows back (due now) when this run will not get to them."""
    try:
        with engine.begin() as conn:
            store.lease_notifications(conn, ids, until=now)
    except Exception:
        log.exception("releasing alert notifications failed (they will be retried when the lease ends)")


def kind_label(channel: str) -> str:
    """A channel for logs without its path or credentials (webhook URLs often carry a secret)."""
    try:
        parts = urlsplit(channel)
    except ValueError:
        return "<bad url>"
    if parts.scheme.lower() == "mailto":
        return "mailto:…"
    return f"{parts.scheme}://{parts.hostname or ''}/…"


def send_test(
    engine: Engine,
    settings: Settings,
    rule_id: int,
    *,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
    client: httpx.Client | None = None,
) -> DeliveryReport:
    """Queue a test notification on every channel of a rule and deliver it at once. Never raises."""
    from tracker.alerts.evaluate import hour_index, outbox_rows

    try:
        with engine.begin() as conn:
            row = store.get_rule(conn, rule_id)
            if row is None:
                return DeliveryReport(errors=[f"no rule with id {rule_id}"])
            rule = store.rule_from_row(row)
            state = store.state_from_row(row)
            decision = Notify(
                "test",
                state.state,
                state.state,
                state.last_value,
                f"{rule.name}: test notification ({rule.describe()})",
            )
            rows = outbox_rows(conn, rule, decision, now=now, end=hour_index(now) + 1, test=True)
            store.add_notifications(conn, rows)
            ids = store.notification_ids(conn, [r["event_id"] for r in rows])
    except Exception as exc:
        log.exception("queueing a test notification failed")
        return DeliveryReport(errors=[f"queueing the test failed: {type(exc).__name__}: {exc}"[:500]])
    if not ids:
        return DeliveryReport(errors=["the rule has no channels"])
    return deliver_pending(engine, settings, now=now, ids=ids, sleep=sleep, client=client)
