"""Source parsers: the bytes of one HTTP response -> ``ParseResult`` with ``RawItem``s.

One module per source kind, each exposing ``parse(body, content_type, *, max_items) -> ParseResult``;
``KINDS`` maps a config ``kind`` to its module, so a new kind is one new module and one entry here.

Nothing in this package fetches, opens a path or touches the database, and ``parse`` never raises: a
response that cannot be used comes back as ``ParseResult(error=...)``.
"""

from __future__ import annotations

from typing import Protocol

from tracker.models import ParseResult
from tracker.sources import gdelt_doc, hn_algolia, rss


class SourceParser(Protocol):
    def parse(self, body: bytes, content_type: str = "", *, max_items: int = 1000) -> ParseResult: ...


KINDS: dict[str, SourceParser] = {
    "rss": rss,
    "hn_algolia": hn_algolia,
    "gdelt_doc": gdelt_doc,
}


def parse(kind: str, body: bytes, content_type: str = "", *, max_items: int = 1000) -> ParseResult:
    """Parse one response of a source of this ``kind``; every failure is returned as ``error``."""
    module = KINDS.get(kind)
    if module is None:
        return ParseResult(error=f"unknown source kind {kind!r}")
    if not isinstance(body, bytes | bytearray | memoryview):
        # A str here would be a programming error, and some parsers treat a str as a path or URL to open.
        return ParseResult(error="response body must be bytes")
    try:
        return module.parse(bytes(body), content_type or "", max_items=max(0, int(max_items)))
    except RecursionError:
        return ParseResult(error="response nested too deeply")
    except MemoryError:
        return ParseResult(error="response too large to parse")
    except Exception as exc:
        # A parser bug must not stop the other sources: report it like a bad response.
        return ParseResult(error=f"{kind} parser failed ({type(exc).__name__})")
