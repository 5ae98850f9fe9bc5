"""The address guard: classification, URL and host checks, and the backends on real loopback sockets.

(hostile-inputs.md rows 10-13, findings 7-8.) Refusal "before any byte" is proved with a listener that counts
the connections it accepted; made-up DNS answers come from a stub resolver passed to the guard.
"""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker import netguard
from tracker.netguard import BadURL, BlockedAddress, UnresolvableHost, check_host, check_url, is_public_ip
from tracker.settings import Settings

PUBLIC_IP = "93.184.216.34"


# ---------------------------------------------------------------------------------------------------
# is_public_ip

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.254",
    "192.0.0.1",
    "192.0.2.1",  # TEST-NET
    "198.18.0.1",  # benchmarking
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fd00::1",
    "fc00::1",
    "fe80::1",
    "fe80::1%eth0",
    "ff02::1",
    "ff0e::1",  # global-scope multicast: is_global but still refused
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::a9fe:a9fe",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2001:db8::1",  # documentation
    "not an ip",
    "",
    "1.2.3",
    "999.1.1.1",
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    PUBLIC_IP,
    "100.128.0.1",  # just past CGNAT
    "2606:4700:4700::1111",
    "2a00:1450:4007:80e::200e",
    "::ffff:8.8.8.8",
    "2002:808:808::",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize("ip", NOT_PUBLIC)
def test_not_public(ip: str) -> None:
    assert is_public_ip(ip) is False


@pytest.mark.parametrize("ip", PUBLIC)
def test_public(ip: str) -> None:
    assert is_public_ip(ip) is True


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_embedded_ipv4_is_judged_like_the_ipv4_itself(value: int) -> None:
    v4 = ipaddress.IPv4Address(value)
    expected = is_public_ip(str(v4))
    mapped = ipaddress.IPv6Address((0xFFFF << 32) | value)
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (value << 80))
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | value)
    for wrapped in (mapped, sixtofour, nat64):
        assert is_public_ip(str(wrapped)) is expected, wrapped


# ---------------------------------------------------------------------------------------------------
# check_url

BLOCKED_URLS = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/feed",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://app.localhost/",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.0.10/",
    "https://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://127.1/",
    "http://0x7f.1/",
    "http://0x/",
    "http://0/",
    "http://127.0.0.1./",
    "http://2852039166/",  # 169.254.169.254 as one number
    "HTTP://127.0.0.1/",
    "http://127\u30020\u30020\u30021/",  # ideographic full stops: IDNA turns them into dots
    "http://127\uff0e0\uff0e0\uff0e1/",  # fullwidth full stops
    "http://LOCALHOST\u3002/",
]

BAD_URLS = [
    ("file:///etc/passwd", "unsupported scheme"),
    ("gopher://example.org/", "unsupported scheme"),
    ("ftp://example.org/", "unsupported scheme"),
    ("javascript:alert(1)", "unsupported scheme"),
    ("data:text/plain,hi", "unsupported scheme"),
    ("example.org/feed", "unsupported scheme"),
    ("http://a\\@127.0.0.1/", "backslash"),
    ("http://example.org\\feed", "backslash"),
    ("http://public@127.0.0.1/", "user info"),
    ("http://user:pass@example.org/", "user info"),
    ("http://@example.org/", "user info"),
    ("http://example.org/\r\nHost: evil", "control character"),
    ("http://example.org/\nx", "control character"),
    ("http://example.org/a b", "control character"),
    ("http://example.org/\tx", "control character"),
    ("http://example.org/\x00", "control character"),
    ("http://example.org/\x7f", "control character"),
    ("http:///feed", "no host"),
    ("http://example.org:99999/", "malformed URL"),
    ("http://example.org:abc/", "malformed URL"),
    ("http://example.org:0/", "port 0"),
    ("http://[::1/", "malformed URL"),
    ("http://[not:an:ip::zz]/", "malformed URL"),
    ("http://256.0.0.1/", "invalid numeric host"),
    ("http://1.2.3.4.5/", "invalid numeric host"),
    ("http://08.0.0.1/", "invalid numeric host"),
    ("http://0x100000000/", "invalid numeric host"),
    ("http://1.2.65536/", "invalid numeric host"),
    ("http://example.123/", "invalid numeric host"),
    ("http://example.org/" + "a" * 9000, "too long"),
    ("http://\uff11\uff12\uff17.0.0.1/", "invalid numeric host"),  # fullwidth digits
    ("http://exa\u200bmple.org/", "invalid URL"),  # zero-width space
]

ALLOWED_URLS = [
    "https://example.org/feed.xml",
    "http://news.example.com:8080/rss?q=a@b",  # '@' in the query is not user info
    "https://example.org/path@x",
    f"http://{PUBLIC_IP}/",
    "http://[2606:4700:4700::1111]/",
    "http://1e100.net/",
    "http://8.8.8.8.nip.io/",
    "HTTPS://EXAMPLE.ORG/",
    "http://0x08080808/",  # 8.8.8.8, spelled oddly but public
    "http://localhost.example.org/",
]


@pytest.mark.parametrize("url", BLOCKED_URLS)
def test_check_url_blocks_private_literals(url: str) -> None:
    with pytest.raises(BlockedAddress, match="refusing non-public address"):
        check_url(url, allow_private=False)
    if url == "http://0177.0.0.1/":
        # Allowed as an address, but httpx cannot parse the spelling: still not a URL we can fetch.
        with pytest.raises(BadURL, match="invalid URL"):
            check_url(url, allow_private=True)
    else:
        check_url(url, allow_private=True)  # the opt-out lets them all through


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_check_url_rejects_bad_shapes_even_when_private_is_allowed(url: str, message: str) -> None:
    for allow in (False, True):
        with pytest.raises(BadURL, match=message):
            check_url(url, allow_private=allow)


@pytest.mark.parametrize("url", ALLOWED_URLS)
def test_check_url_allows_public_urls(url: str) -> None:
    check_url(url, allow_private=False)


def test_blocked_message_names_the_address_and_the_spelling() -> None:
    with pytest.raises(BlockedAddress) as info:
        check_url("http://0x7f000001/", allow_private=False)
    assert str(info.value) == "refusing non-public address 127.0.0.1 (host '0x7f000001')"
    assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------------------------------------------
# check_host


class StubDNS:
    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


def test_check_host() -> None:
    dns = StubDNS(
        {
            "public.test": [PUBLIC_IP, "2606:4700:4700::1111"],
            "mixed.test": [PUBLIC_IP, "10.0.0.5"],
            "mixed6.test": ["8.8.8.8", "fd00::1"],
            "private.test": ["192.168.1.1"],
            "empty.test": [],
        }
    )
    check_host("public.test", 443, allow_private=False, resolver=dns)
    for host in ("mixed.test", "mixed6.test", "private.test"):
        with pytest.raises(BlockedAddress, match="non-public address"):
            check_host(host, 443, allow_private=False, resolver=dns)
        check_host(host, 443, allow_private=True, resolver=dns)
    with pytest.raises(UnresolvableHost):
        check_host("nowhere.test", 443, allow_private=False, resolver=dns)
    with pytest.raises(UnresolvableHost):
        check_host("empty.test", 443, allow_private=True, resolver=dns)
    assert issubclass(UnresolvableHost, BlockedAddress)


def test_check_host_literals_skip_dns() -> None:
    dns = StubDNS({})
    for host in ("127.0.0.1", "[::1]", "::1", "169.254.169.254", "2130706433", "localhost"):
        with pytest.raises(BlockedAddress):
            check_host(host, 80, allow_private=False, resolver=dns)
    check_host(PUBLIC_IP, 80, allow_private=False, resolver=dns)
    check_host("[2606:4700:4700::1111]", 80, allow_private=False, resolver=dns)
    assert dns.lookups == []


def test_check_host_default_resolver_on_loopback_name() -> None:
    with pytest.raises(BlockedAddress):
        check_host("localhost", 80, allow_private=False)
    check_host("localhost", 80, allow_private=True)  # resolves via the system resolver


# ---------------------------------------------------------------------------------------------------
# The sync client for notifiers, on a counting server


class CountingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), CountingHandler)
        self.connections = 0
        self.paths: list[str] = []
        self.user_agents: list[str | None] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def get_request(self) -> tuple[socket.socket, Any]:
        request = super().get_request()
        self.connections += 1
        return request

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def connections_before_probe(self) -> int:
        """Connections accepted before now (accepts are FIFO: once the probe is served, earlier ones counted)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as probe:
            probe.sendall(b"GET /__probe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while probe.recv(1024):
                pass
        return self.connections - 1

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class CountingHandler(http.server.BaseHTTPRequestHandler):
    server: CountingServer

    def do_GET(self) -> None:
        if self.path != "/__probe":
            self.server.paths.append(self.path)
            self.server.user_agents.append(self.headers.get("User-Agent"))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/")
            self.send_header("Content-Length", "0")
        else:
            self.send_response(200)
            self.send_header("Content-Length", "2")
        self.end_headers()
        if self.path != "/redirect":
            self.wfile.write(b"ok")

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def counting() -> Iterator[CountingServer]:
    srv = CountingServer()
    yield srv
    srv.stop()


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": "sqlite://", "connect_timeout": 1.5, "read_timeout": 2.5}
    values.update(overrides)
    return Settings(**values)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1"])
def test_guarded_client_refuses_loopback_before_connecting(counting: CountingServer, host: str) -> None:
    client = netguard.guarded_client(settings(allow_private_networks=False))
    with client, pytest.raises(BlockedAddress, match="non-public address"):
        client.post(counting.url("/hook", host=host), json={"alert": "x"})
    assert counting.connections_before_probe() == 0


def test_guarded_client_with_private_allowed(counting: CountingServer) -> None:
    with netguard.guarded_client(settings(allow_private_networks=True, user_agent="ua-test/1")) as client:
        response = client.get(counting.url("/hook"))
        redirect = client.get(counting.url("/redirect"))
    assert response.status_code == 200 and response.text == "ok"
    assert redirect.status_code == 302  # not followed
    assert counting.paths == ["/hook", "/redirect"]
    assert counting.user_agents == ["ua-test/1", "ua-test/1"]


def test_guarded_client_configuration(monkeypatch: pytest.MonkeyPatch, counting: CountingServer) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.9.9.9:3128")
    with netguard.guarded_client(settings(allow_private_networks=True)) as client:
        assert client.timeout.connect == 1.5 and client.timeout.read == 2.5
        assert client.trust_env is False and client.follow_redirects is False
        transport = client._transport
        assert isinstance(transport, httpx.HTTPTransport)
        assert isinstance(transport._pool._network_backend, netguard.GuardedBackend)
        assert client.get(counting.url("/direct")).status_code == 200  # the proxy in the env was not used
    assert counting.paths == ["/direct"]


# ---------------------------------------------------------------------------------------------------
# The backends below httpx


class RecordingSyncBackend(httpcore.NetworkBackend):
    def __init__(self, fail: Iterable[str] = ()) -> None:
        self.calls: list[str] = []
        self.fail = set(fail)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        self.calls.append(host)
        if host in self.fail:
            raise httpcore.ConnectError("refused")
        return httpcore.MockStream([])


class RecordingAsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.calls.append(host)
        return httpcore.AsyncMockStream([])


def test_sync_backend_checks_every_record_and_connects_to_a_checked_ip() -> None:
    dns = StubDNS(
        {"mixed.test": [PUBLIC_IP, "127.0.0.1"], "public.test": ["10.0.0.1"], "two.test": ["8.8.8.8", "1.1.1.1"]}
    )
    inner = RecordingSyncBackend(fail={"8.8.8.8"})
    backend = netguard.GuardedBackend(allow_private=False, resolver=dns, inner=inner)
    with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1 \(host 'mixed\.test'\)"):
        backend.connect_tcp("mixed.test", 80)
    with pytest.raises(BlockedAddress):
        backend.connect_tcp("public.test", 80)
    assert inner.calls == []
    backend.connect_tcp("two.test", 80)  # first address refuses the connection: the next checked one is tried
    assert inner.calls == ["8.8.8.8", "1.1.1.1"]
    with pytest.raises(httpcore.ConnectError, match="cannot resolve"):
        backend.connect_tcp("nowhere.test", 80)
    with pytest.raises(BlockedAddress, match="unix"):
        backend.connect_unix_socket("/run/docker.sock")


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "::1", "169.254.169.254", "::ffff:169.254.169.254", "0x7f000001", "localhost", "0.0.0.0"]
)
def test_async_backend_refuses_literals_without_touching_the_network(host: str) -> None:
    inner = RecordingAsyncBackend()
    dns = StubDNS({})
    backend = netguard.AsyncGuardedBackend(allow_private=False, resolver=dns, inner=inner)

    async def go() -> None:
        with pytest.raises(BlockedAddress):
            await backend.connect_tcp(host, 80, timeout=1)

    asyncio.run(go())
    assert inner.calls == [] and dns.lookups == []


def test_async_backend_resolves_in_a_thread_and_checks() -> None:
    inner = RecordingAsyncBackend()
    dns = StubDNS({"feed.test": [PUBLIC_IP], "evil.test": [PUBLIC_IP, "fd00::1"]})
    backend = netguard.AsyncGuardedBackend(allow_private=False, resolver=dns, inner=inner)

    async def go() -> None:
        await backend.connect_tcp("feed.test", 443, timeout=1)
        with pytest.raises(BlockedAddress, match="fd00::1"):
            await backend.connect_tcp("evil.test", 443, timeout=1)
        with pytest.raises(httpcore.ConnectError, match="cannot resolve"):
            await backend.connect_tcp("nowhere.test", 443, timeout=1)
        with pytest.raises(BlockedAddress, match="unix"):
            await backend.connect_unix_socket("/var/run/x.sock")

    asyncio.run(go())
    assert inner.calls == [PUBLIC_IP]


def test_async_backend_resolution_respects_the_connect_timeout() -> None:
    release = threading.Event()

    def stuck(host: str, port: int) -> list[str]:
        release.wait(5)
        return [PUBLIC_IP]

    backend = netguard.AsyncGuardedBackend(allow_private=False, resolver=stuck, inner=RecordingAsyncBackend())

    async def go() -> None:
        with pytest.raises(httpcore.ConnectTimeout, match="resolving"):
            await backend.connect_tcp("slow.test", 80, timeout=0.2)

    try:
        asyncio.run(go())
    finally:
        release.set()


def test_transports_are_guarded_tripwire() -> None:
    """If a new httpx stops using `_pool`, these fail loudly instead of the guard silently vanishing."""
    sync = netguard.guarded_transport(allow_private=False)
    assert isinstance(sync._pool, httpcore.ConnectionPool)
    assert isinstance(sync._pool._network_backend, netguard.GuardedBackend)
    sync.close()
    async_ = netguard.async_guarded_transport(allow_private=True)
    assert isinstance(async_._pool, httpcore.AsyncConnectionPool)
    backend = async_._pool._network_backend
    assert isinstance(backend, netguard.AsyncGuardedBackend) and backend.allow_private is True
