"""Delivery against real local receivers: an HTTP webhook server, an aiosmtpd SMTP server, apprise json://."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from tracker.alerts.evaluate import build_payload, evaluate_all
from tracker.alerts.notify import check_target, deliver_pending, send_test, subject_of
from tracker.alerts.rules import Notify, Rule, RuleIn
from tracker.models import Notification
from tracker.netguard import GuardError
from tracker.series import Sums
from tracker.settings import Settings
from tracker.store import alerts as store
from tracker.store.engine import open_engine
from tracker.store.rollups import apply_deltas

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
SECRET = "s3cret-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings(**kw) -> Settings:
    base = {
        "database_url": "sqlite://",
        "allow_private_networks": True,
        "connect_timeout": 0.5,
        "read_timeout": 0.5,
        "webhook_secret": SECRET,
    }
    base.update(kw)
    return Settings(**base)


def no_sleep(_seconds: float) -> None:
    pass


class Receiver:
    """A webhook receiver on 127.0.0.1 whose answers follow a script: 'slow', 500, 429, 200..."""

    def __init__(self, port: int, script: list):
        self.port = port
        self.script = list(script)
        self.connections = 0
        self.requests: list[dict] = []
        self.accepted: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                action = receiver.script.pop(0) if receiver.script else 200
                receiver.requests.append({"headers": dict(self.headers), "body": body, "action": action})
                slow = action == "slow"
                if slow:
                    time.sleep(1.5)
                    action = 200
                extra = {}
                if isinstance(action, tuple):
                    action, extra = action
                code = int(action)
                if code == 200 and not slow:
                    # Recorded before answering: the client may look at the receiver as soon as it has the answer.
                    receiver.accepted.append({"headers": dict(self.headers), "body": body})
                self.send_response(code)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request, client_address):
                receiver.connections += 1
                return True

            def handle_error(self, request, client_address):
                pass  # the slow answer is written to a client that already gave up

        self.server = Server(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver_factory():
    made = []

    def make(port: int, script: list) -> Receiver:
        r = Receiver(port, script)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def add_rule(engine, channels, **kw) -> int:
    body = {
        "name": "sour nvda",
        "topic": "nvda",
        "metric": "mean_sentiment",
        "window": "6h",
        "op": "<",
        "threshold": -0.3,
        "channels": channels,
    }
    body.update(kw)
    with engine.begin() as conn:
        return store.insert_rule(conn, RuleIn.model_validate(body).to_columns(), now=NOW)


def make_firing(engine) -> None:
    hour = NOW.replace(minute=0)
    with engine.begin() as conn:
        apply_deltas(conn, {("nvda", hour, "en"): Sums(4, 4, -2.8, 1.96, 0, 4, 0, 0)})


def queue_direct(engine, channel: str) -> str:
    """An outbox row that never went through save-time checks (a hand-edited DB, an older config)."""
    rid = add_rule(engine, [], name=f"direct-{uuid.uuid4().hex[:6]}")
    rule = Rule(id=rid, name="direct", topic="nvda", metric="index", window_seconds=3600, op=">", threshold=1)
    event_id = str(uuid.uuid4())
    payload = build_payload(
        rule, Notify("firing", "firing", "ok", 70.0, "m"), event_id=event_id, now=NOW,
        window_start=NOW, window_end=NOW, headlines=[],
    )  # fmt: skip
    with engine.begin() as conn:
        store.add_notifications(
            conn,
            [{"event_id": event_id, "rule_id": rid, "channel": channel, "payload": payload, "created_at": NOW,
              "next_attempt_at": NOW}],
        )  # fmt: skip
    return event_id


def outbox(engine):
    with engine.connect() as conn:
        return conn.execute(select(Notification.__table__).order_by(Notification.__table__.c.id)).all()


# ---------------------------------------------------------------------------------------------------
# Webhook


def test_webhook_down_slow_500_then_up_is_delivered_once_and_signed(sqlite_url, receiver_factory):
    engine = open_engine(sqlite_url)
    cfg = settings()
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    check_target(url, cfg)
    add_rule(engine, [url])
    make_firing(engine)
    assert evaluate_all(engine, cfg, now=NOW).notifications == 1

    # Down: connection refused on every quick retry; the row is rescheduled, not lost.
    first = deliver_pending(engine, cfg, now=NOW, sleep=no_sleep)
    assert (first.attempted, first.retrying, first.delivered) == (1, 1, 0)
    (row,) = outbox(engine)
    assert row.status == "pending" and row.attempts == 1 and row.next_attempt_at > NOW
    assert "network error" in row.last_error
    assert deliver_pending(engine, cfg, now=NOW, sleep=no_sleep).attempted == 0  # not due yet

    # Up, but slow, then 500, then fine: one delivery attempt with quick retries gets it through.
    rec = receiver_factory(port, ["slow", 500, 200])
    later = NOW + timedelta(hours=2)
    second = deliver_pending(engine, cfg, now=later, sleep=no_sleep)
    assert second.delivered == 1, second.results
    assert [r["action"] for r in rec.requests] == ["slow", 500, 200]
    assert len(rec.accepted) == 1
    got = rec.accepted[0]
    (row,) = outbox(engine)
    assert row.status == "delivered" and row.attempts == 2 and row.delivered_at == later
    assert got["headers"]["X-Tracker-Event-Id"] == row.event_id
    expected = "sha256=" + hmac.new(SECRET.encode(), got["body"], hashlib.sha256).hexdigest()
    assert got["headers"]["X-Tracker-Signature"] == expected
    body = json.loads(got["body"])
    assert body["event_id"] == row.event_id
    assert body["rule"]["name"] == "sour nvda"
    assert body["state"] == {"from": "ok", "to": "firing"}
    assert body["value"] == -0.7

    # Nothing left to send: exactly once at the receiver.
    assert deliver_pending(engine, cfg, now=later + timedelta(hours=5), sleep=no_sleep).attempted == 0
    assert len(rec.accepted) == 1


def test_webhook_429_honours_retry_after_and_4xx_gives_up(sqlite_url, receiver_factory):
    engine = open_engine(sqlite_url)
    port = free_port()
    rec = receiver_factory(port, [(429, {"Retry-After": "3600"}), 404])
    cfg = settings()
    queue_direct(engine, rec.url)
    # A long Retry-After is not waited out in the loop: one request, then the row is rescheduled past it.
    report = deliver_pending(engine, cfg, now=NOW, sleep=no_sleep)
    assert report.retrying == 1
    assert len(rec.requests) == 1
    (row,) = outbox(engine)
    assert row.last_error == "HTTP 429"
    assert row.next_attempt_at >= NOW + timedelta(hours=1)
    report = deliver_pending(engine, cfg, now=NOW + timedelta(hours=3), sleep=no_sleep)
    assert report.failed == 1  # 404 cannot get better by retrying
    (row,) = outbox(engine)
    assert row.status == "failed" and row.attempts == 2


def test_private_webhook_refused_at_save_and_at_send_with_zero_connections(sqlite_url, receiver_factory):
    engine = open_engine(sqlite_url)
    port = free_port()
    rec = receiver_factory(port, [200])
    strict = settings(allow_private_networks=False)
    with pytest.raises(GuardError, match="non-public"):
        check_target(rec.url, strict)
    for bad in ("http://localhost:1/x", "http://[::1]/x", "http://169.254.169.254/", "http://0x7f000001/"):
        with pytest.raises(ValueError):
            check_target(bad, strict)
    queue_direct(engine, rec.url)
    report = deliver_pending(engine, strict, now=NOW, sleep=no_sleep)
    assert report.failed == 1
    (row,) = outbox(engine)
    assert row.status == "failed" and "non-public" in row.last_error
    assert rec.connections == 0


def test_send_test_delivers_to_every_channel(sqlite_url, receiver_factory):
    engine = open_engine(sqlite_url)
    rec = receiver_factory(free_port(), [200, 200])
    rid = add_rule(engine, [rec.url, rec.url + "?second=1"])
    report = send_test(engine, settings(), rid, now=NOW, sleep=no_sleep)
    assert report.delivered == 2, report.results
    bodies = [json.loads(a["body"]) for a in rec.accepted]
    assert all(b["test"] is True and b["reason"] == "test" for b in bodies)
    assert len({b["event_id"] for b in bodies}) == 2
    assert send_test(engine, settings(), 999, now=NOW).errors == ["no rule with id 999"]


# ---------------------------------------------------------------------------------------------------
# E-mail


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append({"rcpt": list(envelope.rcpt_tos), "data": envelope.content})
            return "250 OK"

    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_email_is_received_and_feed_text_stays_in_the_body(sqlite_url, smtp_server):
    handler, port = smtp_server
    engine = open_engine(sqlite_url)
    cfg = settings(smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none", smtp_from="tracker@example.org")
    check_target("mailto:ops@example.org", cfg)
    with pytest.raises(ValueError, match="addresses only"):
        check_target("mailto:ops@example.org?bcc=evil@example.com", cfg)
    with pytest.raises(ValueError, match="control characters"):
        check_target("mailto:ops%0d%0aBcc:evil", cfg)
    rid = add_rule(engine, ["mailto:ops@example.org"])
    rule = Rule(id=rid, name="sour nvda", topic="nvda", metric="index", window_seconds=3600, op=">", threshold=1)
    event_id = str(uuid.uuid4())
    payload = build_payload(
        rule,
        Notify("firing", "firing", "ok", 71.5, "sour nvda: index high"),
        event_id=event_id,
        now=NOW,
        window_start=NOW,
        window_end=NOW,
        headlines=[{"title": "Nvidia {{7*7}} crash\r\nBcc: evil@example.com", "url": "https://news.example/a"}],
    )
    with engine.begin() as conn:
        store.add_notifications(
            conn,
            [{"event_id": event_id, "rule_id": rid, "channel": "mailto:ops@example.org", "payload": payload,
              "created_at": NOW, "next_attempt_at": NOW}],
        )  # fmt: skip
    report = deliver_pending(engine, cfg, now=NOW, sleep=no_sleep)
    assert report.delivered == 1, report.results
    (msg,) = handler.messages
    assert msg["rcpt"] == ["ops@example.org"]
    parsed = message_from_bytes(msg["data"])
    assert parsed["Subject"] == "[tracker] FIRING: sour nvda"
    assert parsed["Bcc"] is None
    text = parsed.get_payload(decode=True).decode()
    assert "{{7*7}}" in text  # shown, never evaluated
    assert "https://news.example/a" in text
    assert event_id in text


def test_subject_never_carries_control_characters():
    assert subject_of({"reason": "firing", "rule": {"name": "a\r\nBcc: x"}}) == "[tracker] FIRING: a  Bcc: x"


def test_email_to_private_smtp_is_refused_when_private_networks_are_off(sqlite_url, smtp_server):
    handler, port = smtp_server
    engine = open_engine(sqlite_url)
    cfg = settings(allow_private_networks=False, smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none")
    with pytest.raises(GuardError):
        check_target("mailto:ops@example.org", cfg)
    queue_direct(engine, "mailto:ops@example.org")
    assert deliver_pending(engine, cfg, now=NOW, sleep=no_sleep).failed == 1
    assert handler.messages == []


# ---------------------------------------------------------------------------------------------------
# apprise


def test_apprise_json_target_refused_then_delivered(sqlite_url, receiver_factory):
    engine = open_engine(sqlite_url)
    port = free_port()
    rec = receiver_factory(port, [200])
    target = f"json://127.0.0.1:{port}/"
    strict = settings(allow_private_networks=False)
    with pytest.raises(GuardError):
        check_target(target, strict)
    with pytest.raises(ValueError, match="unsupported channel scheme"):
        check_target("file:///etc/passwd", strict)
    queue_direct(engine, target)
    assert deliver_pending(engine, strict, now=NOW, sleep=no_sleep).failed == 1
    assert rec.connections == 0

    queue_direct(engine, target)
    report = deliver_pending(engine, settings(), now=NOW, sleep=no_sleep)
    assert report.delivered == 1, report.results
    assert rec.connections >= 1
    (got,) = rec.accepted
    sent = json.loads(got["body"])
    assert sent["title"] == "[tracker] FIRING: direct"


@pytest.mark.parametrize("query", ["", "?redirect=yes"])
def test_apprise_never_follows_a_redirect(sqlite_url, receiver_factory, query):
    # The guard checked the first host only: a 307 to another (say 169.254.169.254) must go nowhere.
    engine = open_engine(sqlite_url)
    inner = receiver_factory(free_port(), [200])
    outer_port = free_port()
    outer = receiver_factory(outer_port, [(307, {"Location": inner.url})] * 20)
    queue_direct(engine, f"json://127.0.0.1:{outer_port}/{query}")
    report = deliver_pending(engine, settings(), now=NOW, sleep=no_sleep)
    assert outer.connections >= 1 and inner.connections == 0
    assert report.delivered == 0


def test_delivery_budget_hands_the_rest_back(sqlite_url, receiver_factory):
    engine = open_engine(sqlite_url)
    rec = receiver_factory(free_port(), [200, 200])
    for _ in range(2):
        queue_direct(engine, rec.url)
    report = deliver_pending(engine, settings(), now=NOW, sleep=no_sleep, budget_seconds=0)
    assert report.attempted == 0 and "budget" in report.errors[0]
    assert [r.next_attempt_at for r in outbox(engine)] == [NOW, NOW]  # due again at once, not after the lease
    assert deliver_pending(engine, settings(), now=NOW, sleep=no_sleep).delivered == 2
