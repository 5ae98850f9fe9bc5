"""RSS 0.9x, RSS 1.0/RDF, RSS 2.0 and Atom: the bytes of one response -> ``ParseResult``.

The fast path is lxml in strict mode with entity resolution, DTD loading and network access all off,
walked by hand (feedparser manages about 4,000 items/s; this walker manages tens of thousands). Only
documents lxml cannot read strictly (truncated, wrong charset, HTML entities without a DTD) go to
feedparser, fed from ``io.BytesIO`` with defusedxml's expat reader preferred.

This module also holds the small date, language and text helpers the JSON source parsers share.

It must never: fetch anything, open a path, hand a ``str`` or anything but in-memory bytes to a parser,
let a document that declares XML entities reach any parser, strip HTML from a summary (cleaning is
``tracker.clean``'s job), or raise to its caller.
"""

from __future__ import annotations

import codecs
import html
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
from defusedxml import DefusedXmlException
from lxml import etree

from tracker.models import ParseResult, RawItem

TITLE_MAX = 1_000
SUMMARY_MAX = 20_000
URL_MAX = 4_096  # a longer "link" is junk, and a cut URL would be a wrong one: dropped instead
SHORT_MAX = 300  # author, publisher, raw date
SNIFF_BYTES = 65_536
EARLIEST_YEAR = 1990
LATEST_YEAR = 2100

# feedparser's loose fallback expands internal entities (hostile-inputs finding 1); the strict pass it tries
# first should refuse them instead. make_parser() imports this module name and calls its create_parser().
if "defusedxml.expatreader" not in feedparser.api.PREFERRED_XML_PARSERS:
    feedparser.api.PREFERRED_XML_PARSERS.insert(0, "defusedxml.expatreader")

# ---------------------------------------------------------------------------------------------------
# Text helpers


def clip(text: str | None, limit: int) -> str:
    """``text`` stripped and cut to ``limit`` characters (``""`` for None)."""
    if not text:
        return ""
    text = text.strip()
    return text[:limit].rstrip() if len(text) > limit else text


def clip_or_none(text: str | None, limit: int = SHORT_MAX) -> str | None:
    return clip(text, limit) or None


def url_or_none(text: str | None) -> str | None:
    if not text:
        return None
    text = text.strip()
    return text if 0 < len(text) <= URL_MAX else None


_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]+")
_TAG = re.compile(r"<[^>]{0,500}>")
_SPACES = re.compile(r"\s+")


def snippet(text: str, limit: int = 200) -> str:
    """The first ``limit`` characters of an error page or message: tags dropped, printable only, one line."""
    head = text[: limit * 20]
    if "<" in head:
        head = _TAG.sub(" ", head)
    head = _NOT_PRINTABLE.sub(" ", head)
    return clip(_SPACES.sub(" ", head), limit)


_SURROGATES = re.compile(r"[\ud800-\udfff]")


def scrub(text: str) -> str:
    """Text safe to store: no NUL (PostgreSQL refuses it), no lone surrogates (not encodable as UTF-8)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        text = _SURROGATES.sub("\ufffd", text)
    return text


# ---------------------------------------------------------------------------------------------------
# Language hints

_ISO639_2 = {
    "eng": "en", "fre": "fr", "fra": "fr", "ger": "de", "deu": "de", "ita": "it", "spa": "es", "por": "pt",
    "dut": "nl", "nld": "nl", "rus": "ru", "chi": "zh", "zho": "zh", "jpn": "ja", "kor": "ko", "ara": "ar",
    "tur": "tr", "pol": "pl", "swe": "sv", "dan": "da", "nor": "no", "fin": "fi", "gre": "el", "ell": "el",
    "heb": "he", "hin": "hi", "ind": "id", "cze": "cs", "ces": "cs", "hun": "hu", "rum": "ro", "ron": "ro",
    "ukr": "uk", "vie": "vi", "tha": "th", "cat": "ca",
}  # fmt: skip
_LANGUAGE_NAMES = {
    "english": "en", "french": "fr", "german": "de", "italian": "it", "spanish": "es", "portuguese": "pt",
    "dutch": "nl", "russian": "ru", "chinese": "zh", "japanese": "ja", "korean": "ko", "arabic": "ar",
    "turkish": "tr", "polish": "pl", "swedish": "sv", "danish": "da", "norwegian": "no", "finnish": "fi",
    "greek": "el", "hebrew": "he", "hindi": "hi", "indonesian": "id", "czech": "cs", "hungarian": "hu",
    "romanian": "ro", "ukrainian": "uk", "vietnamese": "vi", "thai": "th", "catalan": "ca", "bulgarian": "bg",
    "croatian": "hr", "serbian": "sr", "slovak": "sk", "slovenian": "sl", "persian": "fa", "bengali": "bn",
    "urdu": "ur", "malay": "ms", "tamil": "ta", "estonian": "et", "latvian": "lv", "lithuanian": "lt",
}  # fmt: skip
_LANG_CODE = re.compile(r"([a-z]{2,3})(?:[-_][a-z0-9]{1,8})*")


def normalize_language(value: str | None) -> str | None:
    """``en-US`` / ``EN`` / ``eng`` / ``English`` -> ``en``; anything else -> None."""
    if not value:
        return None
    value = value.strip().lower()
    if len(value) > 40:
        return None
    if value in _LANGUAGE_NAMES:
        return _LANGUAGE_NAMES[value]
    match = _LANG_CODE.fullmatch(value)
    if match is None:
        return None
    code = match.group(1)
    if len(code) == 2:
        return code
    return _ISO639_2.get(code)


# ---------------------------------------------------------------------------------------------------
# Dates. Each parser reads the numbers straight out of the raw string with an anchored pattern, so a
# result always matches the raw digits; anything else (non-English month names, odd layouts) gives None.

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12, "january": 1, "february": 2, "march": 3, "april": 4, "june": 6,
    "july": 7, "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
}  # fmt: skip
# Only zone names with one meaning; IST, BST and the military letters (except Z) are left out on purpose.
_ZONES = {
    "gmt": 0, "ut": 0, "utc": 0, "z": 0, "wet": 0, "edt": -240, "est": -300, "cdt": -300, "cst": -360,
    "mdt": -360, "mst": -420, "pdt": -420, "pst": -480, "akst": -540, "akdt": -480, "hst": -600,
    "cet": 60, "cest": 120, "met": 60, "mest": 120, "west": 60, "eet": 120, "eest": 180, "msk": 180,
    "jst": 540, "kst": 540, "hkt": 480, "sgt": 480, "aest": 600, "aedt": 660, "nzst": 720, "nzdt": 780,
}  # fmt: skip

_TZ = r"(?P<tz>[A-Za-z]{1,5}(?:[+-]\d{1,2}(?::?\d{2})?)?|[+-]\d{2}(?::?\d{2})?)?"
_TIME = r"(?:[\sT,]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,]\d{1,9})?)?)?"
_RFC822 = re.compile(
    r"\s*(?:[A-Za-z]{2,9}\.?(?:\s*,\s*|\s+))?"
    r"(?P<d>\d{1,2})[\s\-]+(?P<mon>[A-Za-z]{3,9})\.?[\s\-]+(?P<y>\d{4}|\d{2})" + _TIME + r"\s*" + _TZ + r"\s*"
)
_MONTH_FIRST = re.compile(
    r"\s*(?:[A-Za-z]{2,9}\.?(?:\s*,\s*|\s+))?"
    r"(?P<mon>[A-Za-z]{3,9})\.?\s+(?P<d>\d{1,2}),?\s+(?P<y>\d{4})" + _TIME + r"\s*" + _TZ + r"\s*"
)
_ISO = re.compile(
    r"\s*(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})"
    r"(?:[T\s]+(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?\s*" + _TZ + r"\s*"
)
_COMPACT = re.compile(
    r"\s*(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:T?(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?)?\s*(?P<tz>Z)?\s*"
)
_SLASHED = re.compile(
    r"\s*(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:\s+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?\s*"
    + _TZ
    + r"\s*"
)
_OFFSET = re.compile(r"(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?")


def _offset_minutes(token: str | None) -> int | None:
    """Minutes east of UTC for a zone token; no token means UTC; an unknown or absurd one gives None."""
    if not token:
        return 0
    lower = token.lower()
    if lower in _ZONES:
        return _ZONES[lower]
    for prefix in ("gmt", "utc", "ut"):
        if lower.startswith(prefix):
            lower = lower[len(prefix) :]
            break
    else:
        if lower[0].isalpha():
            return None
    match = _OFFSET.fullmatch(lower)
    if match is None:
        return None
    hours, minutes = int(match["h"]), int(match["m"] or 0)
    if hours > 14 or minutes > 59:
        return None
    total = hours * 60 + minutes
    return -total if match["sign"] == "-" else total


def _build(match: re.Match[str], year: int, month: int) -> datetime | None:
    offset = _offset_minutes(match["tz"])
    if offset is None or not EARLIEST_YEAR <= year <= LATEST_YEAR:
        return None
    fraction = match.groupdict().get("f")
    try:
        when = datetime(
            year,
            month,
            int(match["d"]),
            int(match["H"] or 0),
            int(match["M"] or 0),
            int(match["S"] or 0),
            int(fraction[:6].ljust(6, "0")) if fraction else 0,
            tzinfo=UTC,
        )
    except ValueError:  # 31 February, 25 o'clock...
        return None
    return when - timedelta(minutes=offset) if offset else when


def parse_date(raw: str | None) -> datetime | None:
    """A feed or API date as aware UTC, or None when it cannot be read without guessing.

    Reads RFC 822 (``Tue, 15 Nov 2022 20:15:04 Z``, English month names only), ISO 8601
    (``2023-01-25T19:03:02+01:00``, ``2026-08-09T16:33:20Z``), GDELT's ``20260912T050300Z`` and
    ``2020/1/10 14:33:00``. A date without a zone is UTC. Years outside 1990-2100 give None.
    """
    if not raw or len(raw) > 80:
        return None
    match = _ISO.fullmatch(raw)
    if match is not None:
        return _build(match, int(match["y"]), int(match["m"]))
    for pattern in (_RFC822, _MONTH_FIRST):
        match = pattern.fullmatch(raw)
        if match is not None:
            month = _MONTHS.get(match["mon"].lower())
            if month is None:
                return None
            year = int(match["y"])
            if len(match["y"]) == 2:
                year += 2000 if year < 70 else 1900
            return _build(match, year, month)
    for pattern in (_COMPACT, _SLASHED):
        match = pattern.fullmatch(raw)
        if match is not None:
            return _build(match, int(match["y"]), int(match["m"]))
    return None


def date_from_epoch(value: float) -> datetime | None:
    """Seconds since 1970 as aware UTC, None outside 1990-2100."""
    try:
        when = datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return when if EARLIEST_YEAR <= when.year <= LATEST_YEAR else None


# ---------------------------------------------------------------------------------------------------
# Sniffing: what the bytes are, before any parser sees them


class Refused(Exception):
    """The body is not something this module will hand to a parser; the message says why."""


_ENTITY_DECL = re.compile(r"<!ENTITY", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:\-]{1,40})["']""")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:\-]{1,40})", re.IGNORECASE)
_ROOT_NAME = re.compile(r"<([A-Za-z_][\w.:\-]{0,100})")
_SUBSET_END = re.compile(r"\]\s*>")
_FEED_ROOTS = frozenset({"rss", "rdf", "feed", "channel"})
_HTML_ROOTS = frozenset({"html", "head", "body"})
_WIDE = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)


def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _readings(body: bytes, content_type: str) -> list[str]:
    """Every codec a parser might read these bytes with: BOM, XML declaration, HTTP charset.

    Checking one reading only would let ``<!ENTITY`` hide in UTF-16 or UTF-7. Latin-1 stands for every
    ASCII-compatible charset, in which markup looks the same.
    """
    head = body[:SNIFF_BYTES]
    for bom, name in _WIDE:
        if head.startswith(bom):
            return [name]
    names: list[str] = ["latin-1"]
    declared = _XML_ENCODING.match(head.lstrip(b" \t\r\n\xef\xbb\xbf"))
    charset = _CHARSET.search(content_type)
    labels = (declared.group(1).decode() if declared else None, charset.group(1) if charset else None)
    for label in labels:
        codec = _known_codec(label)
        if codec and codec not in names and codec not in ("utf-8", "ascii", "cp1252", "iso8859-1"):
            names.append(codec)
    return names


def _prolog(text: str) -> tuple[str, int, bool]:
    """The first element's name (lower case, no prefix), where it starts, and whether a DOCTYPE has a subset.

    Walks the prolog the way XML does (PIs, comments, a DOCTYPE with quoted literals), so a comment cannot
    hide a DOCTYPE and a quoted ``>`` cannot end one early. The name is ``""`` when the text does not start
    with markup, ``"!doctype html"`` for an HTML doctype.
    """
    # Every early return reports the end of the text as the root's place: all of it counts as prolog.
    i, n, subset = 0, len(text), False
    while True:
        while i < n and text[i] in " \t\r\n\ufeff":
            i += 1
        if i >= n or text[i] != "<":
            return "", n, subset
        if text.startswith("<?", i):
            end = text.find("?>", i + 2)
            if end < 0:
                return "", n, subset
            i = end + 2
        elif text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            if end < 0:
                return "", n, subset
            i = end + 3
        elif text[i : i + 9].upper() == "<!DOCTYPE":
            if text[i + 9 : i + 20].strip().lower().startswith("html"):
                return "!doctype html", n, subset
            quote, j = "", i + 9
            while j < n:
                ch = text[j]
                if quote:
                    quote = "" if ch == quote else quote
                elif ch in "\"'":
                    quote = ch
                elif ch == "[":
                    # The caller searches the whole document for declarations when there is a subset,
                    # so finding its end roughly is enough here.
                    subset = True
                    close = _SUBSET_END.search(text, j)
                    j = close.end() - 1 if close else n
                    break
                elif ch == ">":
                    break
                j += 1
            i = j + 1
        else:
            match = _ROOT_NAME.match(text, i)
            if match is None:
                return "", n, subset
            return match.group(1).rpartition(":")[2].lower(), i, subset


def _declares_entities(body: bytes, names: list[str]) -> bool:
    return any(_ENTITY_DECL.search(body.decode(name, errors="ignore")) for name in names)


def sniff(body: bytes, content_type: str) -> None:
    """Raise ``Refused`` unless the body looks like a feed that is safe to hand to a parser."""
    if not body.strip(b" \t\r\n\x00\xef\xbb\xbf\xfe\xff"):
        raise Refused("empty response")
    names = _readings(body, content_type)
    head = body[3:SNIFF_BYTES] if body.startswith(codecs.BOM_UTF8) else body[:SNIFF_BYTES]
    root = ""
    for index, name in enumerate(names):
        view = head.decode(name, errors="ignore")
        name_here, root_at, subset = _prolog(view)
        # A subset may be longer than the sniffed head: then the whole document, in every reading, is searched.
        if _ENTITY_DECL.search(view, 0, root_at) or (subset and _declares_entities(body, names)):
            raise Refused("feed declares XML entities (refused)")
        if index == 0:
            root = name_here
    view = head[:400].decode(names[0], errors="ignore").lstrip(" \t\r\n\ufeff")
    mime = content_type.split(";", 1)[0].strip().lower()
    if root in _HTML_ROOTS or root == "!doctype html":
        raise Refused("not a feed (got an HTML page)")
    if root in _FEED_ROOTS:
        return
    if mime in ("text/html", "application/xhtml+xml") or (view.startswith("<") and "<html" in view.lower()):
        raise Refused("not a feed (got an HTML page)")
    if view[:1] in ("{", "["):
        raise Refused("not a feed (got JSON)")
    if root:
        raise Refused(f"not a feed (root element <{root}>)")
    raise Refused(f"not a feed (starts with {snippet(view, 60)!r})")


# ---------------------------------------------------------------------------------------------------
# The lxml walker

_ATOM = "http://www.w3.org/2005/Atom"
_ATOM03 = "http://purl.org/atom/ns#"
_RSS1 = "http://purl.org/rss/1.0/"
_RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
_USERLAND = "http://backend.userland.com/rss2"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_DCTERMS = "{http://purl.org/dc/terms/}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_FEEDBURNER = "{http://rssnamespace.org/feedburner/ext/1.0}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XHTML_NS_ATTR = re.compile(r' xmlns(?::\w+)?="http://www\.w3\.org/1999/xhtml"')

_CORE_RSS = ("", _RSS1, _RSS090, _USERLAND)
# Each field is read as plain text (T), as content that may be HTML (M), or kept as the element (E) when
# reading it needs attributes (Atom's type, rel, src) or children.
_T, _M, _E = 0, 1, 2
_RSS_CORE_FIELDS = {
    "title": ("title", _T), "link": ("link", _T), "description": ("description", _M),
    "pubDate": ("pubDate", _T), "guid": ("guid", _T), "author": ("author", _T), "source": ("source", _T),
    "language": ("language", _T),
}  # fmt: skip
_MODULE_FIELDS = {
    _DC + "title": ("dc_title", _T), _DC + "date": ("dc_date", _T), _DC + "creator": ("dc_creator", _T),
    _DC + "language": ("language", _T), _DC + "description": ("dc_description", _M),
    _DC + "publisher": ("dc_publisher", _T), _DCTERMS + "issued": ("dc_date", _T),
    _DCTERMS + "created": ("dc_date", _T), _DCTERMS + "modified": ("dc_modified", _T),
    _CONTENT + "encoded": ("content", _M), _FEEDBURNER + "origLink": ("orig_link", _T),
}  # fmt: skip
_ATOM_FIELDS = {
    "published": ("atom_published", _T), "issued": ("atom_published", _T), "created": ("atom_published", _T),
    "updated": ("atom_updated", _T), "modified": ("atom_updated", _T), "id": ("atom_id", _T),
    "link": ("atom_link", _E), "summary": ("atom_summary", _E), "content": ("atom_content", _E),
    "author": ("atom_author", _E), "title": ("atom_title", _E), "source": ("atom_source", _E),
}  # fmt: skip

_Table = dict[str, tuple[str, int]]


def _tables() -> tuple[_Table, _Table]:
    atom: _Table = {f"{{{ns}}}{local}": field for ns in (_ATOM, _ATOM03) for local, field in _ATOM_FIELDS.items()}
    atom[_DC + "language"] = ("language", _T)
    atom[_DC + "creator"] = ("dc_creator", _T)
    rss: _Table = dict(_MODULE_FIELDS)
    for ns in _CORE_RSS:
        for local, field in _RSS_CORE_FIELDS.items():
            rss[f"{{{ns}}}{local}" if ns else local] = field
    rss.update({tag: field for tag, field in atom.items() if field[0] != "atom_source"})
    return rss, atom


_RSS_TABLE, _ATOM_TABLE = _tables()
_BING_SOURCE = ("news_source", _T)


def _xml_parser(*, recover: bool = False) -> etree.XMLParser:
    # A parser is cheap and not safe to share between threads: one per document.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=recover,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def _text(el: Any) -> str:
    """Character data of an element: CDATA is already merged; markup inside is flattened to its text."""
    if not len(el):
        return el.text or ""
    parts = [el.text or ""]
    for child in el:
        if isinstance(child, etree._Entity):
            # Left unresolved because no DTD is read: an HTML entity such as &nbsp; means its character.
            parts.append(html.unescape(child.text or ""))
        elif isinstance(child.tag, str):
            parts.append("".join(child.itertext()))
        parts.append(child.tail or "")
    return "".join(parts)


def _markup(el: Any) -> str:
    """Content of an element that may be HTML: escaped HTML comes back as text, inline markup serialised."""
    if not len(el):
        return el.text or ""
    parts = [el.text or ""]
    for child in el:
        if isinstance(child, etree._Entity):
            parts.append(html.unescape(child.text or ""))
            parts.append(child.tail or "")
        elif isinstance(child.tag, str):
            parts.append(etree.tostring(child, encoding="unicode", with_tail=True))
        else:
            parts.append(child.tail or "")
    return _XHTML_NS_ATTR.sub("", "".join(parts))


def _atom_text(el: Any) -> str:
    if el.get("type") == "xhtml":
        for div in el:
            if isinstance(div.tag, str):
                return _markup(div)
    if el.get("src"):  # out-of-line content: nothing to read here
        return ""
    return _markup(el)


_AUTHOR_EMAIL = re.compile(r"\s*[^\s@()]+@[^\s@()]+\s*\((?P<name>[^()]+)\)\s*")


def _rss_author(text: str) -> str:
    # RSS 2.0's <author> is "email (Name)": the name is what a reader wants.
    match = _AUTHOR_EMAIL.fullmatch(text)
    return match["name"] if match else text


def _atom_person(el: Any) -> str:
    for child in el:
        if isinstance(child.tag, str) and child.tag.endswith("}name"):
            return _text(child)
    return _text(el)


def _lang(el: Any) -> str | None:
    return normalize_language(el.get(_XML_LANG))


def _alternate_href(links: list[Any]) -> str | None:
    best = None
    for link in links:
        href = link.get("href")
        if not href:
            continue
        rel = link.get("rel", "alternate")
        if rel == "alternate":
            if link.get("type", "text/html") in ("text/html", "application/xhtml+xml"):
                return str(href)
            best = best or str(href)
    return best


def _collect(el: Any, table: _Table) -> tuple[dict[str, Any], list[Any]]:
    """The first non-blank value of each field, plus every Atom link (rel and type decide among them)."""
    found: dict[str, Any] = {}
    links: list[Any] = []
    for child in el:
        tag = child.tag
        if tag.__class__ is not str:
            continue
        field = table.get(tag)
        if field is None:
            # Bing's xmlns:News URI is the query URL, different on every request: match the local name.
            if not tag.endswith("}Source"):
                continue
            field = _BING_SOURCE
        key, how = field
        if key in found:
            continue
        if how == _T:
            value = (child.text if not len(child) else _text(child)) or ""
            if key == "link" and not value.strip():
                value = child.get("href") or ""
            value = value.strip()
            if value:
                found[key] = value
                if key == "guid":
                    found["guid_is_link"] = child.get("isPermaLink", "true").lower() != "false"
        elif how == _M:
            value = _markup(child).strip()
            if value:
                found[key] = value
        elif key == "atom_link":
            links.append(child)
        else:
            found[key] = child
    return found, links


def _atom_source_title(el: Any) -> str:
    for child in el:
        if isinstance(child.tag, str) and child.tag.endswith("}title"):
            return _text(child)
    return ""


def _read(el: Any, reader: Callable[[Any], str]) -> str:
    return reader(el).strip() if el is not None else ""


def _rss_item(el: Any, position: int, feed_language: str | None) -> RawItem:
    found, links = _collect(el, _RSS_TABLE)
    get = found.get
    guid = get("guid", "")
    about = el.get(_RDF + "about")
    # feedburner's origLink is the article; its <link> is a redirect through feedburner.
    link = url_or_none(get("orig_link") or get("link")) or url_or_none(_alternate_href(links))
    if not link and guid.startswith("http") and get("guid_is_link"):
        link = url_or_none(guid)
    if not link and about:
        link = url_or_none(about)
    summary = get("description") or get("content") or get("dc_description")
    if not summary:
        summary = _read(get("atom_summary"), _atom_text) or _read(get("atom_content"), _atom_text)
    author = _rss_author(get("author", "")) or get("dc_creator") or _read(get("atom_author"), _atom_person)
    published_raw = clip(
        get("pubDate") or get("dc_date") or get("atom_published") or get("atom_updated") or get("dc_modified"),
        SHORT_MAX,
    )
    return RawItem(
        title=clip(get("title") or get("dc_title"), TITLE_MAX),
        link=link,
        guid=url_or_none(guid) or url_or_none(about),
        summary=clip(summary, SUMMARY_MAX),
        published_raw=published_raw or None,
        published=parse_date(published_raw),
        author=clip_or_none(author),
        publisher=clip_or_none(get("source") or get("news_source") or get("dc_publisher")),
        language=normalize_language(get("language")) or _lang(el) or feed_language,
        position=position,
    )


def _atom_entry(el: Any, position: int, feed_language: str | None) -> RawItem:
    found, links = _collect(el, _ATOM_TABLE)
    get = found.get
    title_el = get("atom_title")
    title_reader = _atom_text if title_el is not None and title_el.get("type") in ("html", "xhtml") else _text
    summary = _read(get("atom_summary"), _atom_text) or _read(get("atom_content"), _atom_text)
    published_raw = clip(get("atom_published") or get("atom_updated"), SHORT_MAX)
    return RawItem(
        title=clip(_read(title_el, title_reader), TITLE_MAX),
        link=url_or_none(_alternate_href(links)),
        guid=url_or_none(get("atom_id")),
        summary=clip(summary, SUMMARY_MAX),
        published_raw=published_raw or None,
        published=parse_date(published_raw),
        author=clip_or_none(_read(get("atom_author"), _atom_person) or get("dc_creator")),
        publisher=clip_or_none(_read(get("atom_source"), _atom_source_title)),
        language=normalize_language(get("language")) or _lang(el) or feed_language,
        position=position,
    )


_ITEM_TAGS = tuple(f"{{{ns}}}item" if ns else "item" for ns in _CORE_RSS)
_CHANNEL_TAGS = tuple(f"{{{ns}}}channel" if ns else "channel" for ns in _CORE_RSS)
_LANGUAGE_TAGS = (*(f"{{{ns}}}language" if ns else "language" for ns in _CORE_RSS), _DC + "language")
_ENTRY_TAGS = (f"{{{_ATOM}}}entry", f"{{{_ATOM03}}}entry")


def _declared_language(el: Any) -> str | None:
    for child in el.iterchildren(*_LANGUAGE_TAGS):
        return normalize_language(_text(child))
    return None


def _walk(root: Any, max_items: int) -> ParseResult:
    # iterchildren(tag...) filters in C: a junk document with millions of elements costs no Python loop.
    local = (root.tag if isinstance(root.tag, str) else "").rpartition("}")[2].lower()
    feed_language = _lang(root)
    build = _rss_item
    if local == "feed":
        build = _atom_entry
        items = list(root.iterchildren(*_ENTRY_TAGS))
        feed_language = _declared_language(root) or feed_language
    elif local in ("rss", "rdf", "channel"):
        channel = root if local == "channel" else next(root.iterchildren(*_CHANNEL_TAGS), None)
        items = []
        if channel is not None:
            feed_language = _declared_language(channel) or _lang(channel) or feed_language
            items = list(channel.iterchildren(*_ITEM_TAGS))
        if channel is not root:
            # RSS 1.0 keeps items beside the channel; sloppy 0.9x feeds do too.
            items += root.iterchildren(*_ITEM_TAGS)
    else:
        return ParseResult(error=f"not a feed (root element <{local[:40]}>)")

    result = ParseResult(feed_language=feed_language)
    if len(items) > max_items:
        result.warnings.append(f"{len(items)} items in the response; kept the first {max_items}")
        items = items[:max_items]
    for position, el in enumerate(items):
        item = build(el, position, feed_language)
        if item.title or item.summary:
            result.items.append(item)
        else:
            result.skipped += 1
    return result


# ---------------------------------------------------------------------------------------------------
# The lenient fallback


def _first_line(exc: BaseException) -> str:
    message = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
    return snippet(str(message).splitlines()[0], 160)


_ITEM_END = re.compile(rb"</(?:[\w.\-]{1,40}:)?(?:item|entry)\s*>", re.IGNORECASE)
# feedparser's loose parser spends about 5 us per byte of junk (1 MB of "<a" took 5-13 s on this shared
# machine): past this size the lenient pass is lxml's recover mode instead, which is C and linear.
FEEDPARSER_MAX_BYTES = 256 * 1024


def _cut_after_items(body: bytes, max_items: int) -> bytes | None:
    """The body cut just after item ``max_items + 1``, or None when it has no more items than that."""
    for count, match in enumerate(_ITEM_END.finditer(body), start=1):
        if count > max_items:
            return body[: match.end()]
    return None


_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def _fix_char_refs(data: bytes) -> bytes:
    """Character references to what no text can hold (a lone surrogate, NUL, past U+10FFFF) become U+FFFD.

    feedparser raises on them (a UnicodeEncodeError in its character-reference handler), which would lose the
    whole feed for one bad title; lxml's strict parser refuses them, which is how we got here.
    """
    if b"&#" not in data:
        return data

    def fix(m: re.Match[bytes]) -> bytes:
        digits = (m[1] or m[2]).lstrip(b"0") or b"0"
        if len(digits) > 8:  # past U+10FFFF in any base, and never handed to int() at any length
            return b"&#xFFFD;"
        code = int(digits, 16) if m[1] else int(digits)
        return b"&#xFFFD;" if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else m[0]

    return _CHAR_REF.sub(fix, data)


def _fallback(body: bytes, content_type: str, max_items: int, strict_error: str) -> ParseResult:
    # Both lenient parsers below are more forgiving than lxml's strict mode: no declaration anywhere, in any
    # reading, and a bounded amount of work for each.
    if _declares_entities(body, _readings(body, content_type)):
        raise Refused("feed declares XML entities (refused)")
    cut = _cut_after_items(body, max_items)
    data = _fix_char_refs(body if cut is None else cut)
    if len(data) > FEEDPARSER_MAX_BYTES or "Excessive depth" in strict_error:
        result = _recover(data, max_items, strict_error)
    else:
        result = _with_feedparser(data, content_type, max_items, strict_error)
    if cut is not None and result.error is None:
        result.warnings = [w for w in result.warnings if "items in the response" not in w]
        result.warnings.append(f"more than {max_items} items in the response; kept the first {max_items}")
    return result


def _recover(data: bytes, max_items: int, strict_error: str) -> ParseResult:
    root = etree.fromstring(data.lstrip(b" \t\r\n"), _xml_parser(recover=True))
    if root is None:
        return ParseResult(error=f"malformed feed: {strict_error}")
    result = _walk(root, max_items)
    if result.error is None and not result.items:
        return ParseResult(error=f"malformed feed: {strict_error}", skipped=result.skipped)
    result.warnings.insert(0, f"not well-formed XML ({strict_error}); read leniently")
    return result


def _with_feedparser(data: bytes, content_type: str, max_items: int, strict_error: str) -> ParseResult:
    headers = {"content-type": content_type} if content_type else {}
    try:
        parsed = feedparser.parse(
            io.BytesIO(data), response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except DefusedXmlException:
        # feedparser lets defusedxml's refusal through rather than falling back: a second line of defence.
        raise Refused("feed declares XML entities (refused)") from None
    entries = list(parsed.get("entries") or [])
    if not parsed.get("version") and not entries:
        return ParseResult(error=f"not a feed ({strict_error})")
    feed = parsed.get("feed") or {}
    feed_language = normalize_language(feed.get("language"))
    result = ParseResult(
        feed_language=feed_language, warnings=[f"not well-formed XML ({strict_error}); read leniently"]
    )
    if len(entries) > max_items:
        result.warnings.append(f"{len(entries)} items in the response; kept the first {max_items}")
        entries = entries[:max_items]
    for position, entry in enumerate(entries):
        item = _from_feedparser(entry, position, feed_language)
        if item.title or item.summary:
            result.items.append(item)
        else:
            result.skipped += 1
    if not result.items and parsed.get("bozo"):
        # Broken and nothing usable in it (a feed cut off by a server error): an error, not an empty success.
        return ParseResult(error=f"malformed feed: {strict_error}", skipped=result.skipped)
    return result


def _string(value: Any) -> str:
    return scrub(value) if isinstance(value, str) else ""


def _from_feedparser(entry: Any, position: int, feed_language: str | None) -> RawItem:
    summary = _string(entry.get("summary"))
    if not summary.strip():
        for content in entry.get("content") or []:
            summary = _string(content.get("value"))
            if summary.strip():
                break
    published_raw = ""
    for key in ("published", "updated", "created"):
        published_raw = clip(_string(entry.get(key)), SHORT_MAX)
        if published_raw:
            break
    source = entry.get("source")
    publisher = _string(source.get("title")) if isinstance(source, dict) else ""
    if not publisher:
        publisher = next((_string(v) for k, v in entry.items() if k.endswith("_source") and isinstance(v, str)), "")
    author = _string(entry.get("author"))
    return RawItem(
        title=clip(_string(entry.get("title")), TITLE_MAX),
        link=url_or_none(_string(entry.get("link"))),
        guid=url_or_none(_string(entry.get("id"))),
        summary=clip(summary, SUMMARY_MAX),
        published_raw=published_raw or None,
        published=parse_date(published_raw),
        author=clip_or_none(_rss_author(author)),
        publisher=clip_or_none(publisher),
        language=feed_language,
        position=position,
    )


# ---------------------------------------------------------------------------------------------------


def parse(body: bytes, content_type: str = "", *, max_items: int = 1000) -> ParseResult:
    """Parse one feed response. Errors are returned in ``ParseResult.error``, never raised."""
    try:
        sniff(body, content_type)
    except Refused as exc:
        return ParseResult(error=str(exc))
    # Leading blanks before <?xml are common in the wild and fatal to a strict parser.
    data = body if body[:1] not in (b" ", b"\t", b"\r", b"\n") else body.lstrip(b" \t\r\n")
    try:
        root = etree.fromstring(data, _xml_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        try:
            return _fallback(body, content_type, max_items, _first_line(exc))
        except Refused as refused:
            return ParseResult(error=str(refused))
        except (RecursionError, MemoryError):
            raise
        except Exception as failure:  # feedparser has many ways to fail on garbage; none may escape
            return ParseResult(error=f"malformed feed: {_first_line(exc)} ({type(failure).__name__})")
    return _walk(root, max_items)
