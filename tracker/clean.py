"""Cleaning: turn one untrusted ``RawItem`` into plain, bounded text with a date, a dedupe key and a fingerprint.

Everything here is pure: values in, values out. It must never fetch a link, open a path, read the clock (the
caller passes ``now``) or raise on hostile text; it only drops what it cannot use.

Choices worth knowing:

* Tags are stripped with regular expressions, not lxml. Measured here: a whole ``clean_text`` of a headline
  with markup takes ~4 µs where ``lxml.html.fromstring(...).text_content()`` alone takes ~10 µs; on a 750-char
  Slashdot description both take ~19 µs, but lxml's figure is before any boilerplate is removed. The text is
  only ever shown escaped, so a perfect HTML parse buys nothing. Block tags become spaces so words on either
  side never glue together.
* Stored text is NFC, not NFKC. NFC only composes accents (``e`` + combining acute -> ``é``) and loses
  nothing, so "m²", "½" and "…" are shown as the publisher wrote them. NFKC folds those compatibility
  characters ("m2", "1⁄2", "...") and so is used only where text is compared: dedupe hashes and title
  fingerprints.
* Dedupe keys are stable across refetches: a canonical URL, else the guid scoped by source, else a hash of
  the text. The item's position in the feed is never part of a key, because it shifts on every fetch and
  would make one story look new each time.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from tracker.language import language_code
from tracker.models import RawItem

TITLE_MAX_LEN = 500
SUMMARY_MAX_LEN = 1000
NAME_MAX_LEN = 200  # publisher, author
GUID_MAX_LEN = 500  # longer guids are hashed into the key
URL_MAX_LEN = 2048
TITLE_FROM_SUMMARY_LEN = 200
FUTURE_SKEW = timedelta(hours=1)
EARLIEST_DATE = datetime(2000, 1, 1, tzinfo=UTC)
KEY_HASH_LEN = 20

# ---------------------------------------------------------------------------------------------------
# Text

# Elements whose content is never readable text (scripts, styles, embeds, Google News' grey source label).
_DROP_ELEMENTS_RE = re.compile(
    r"<(script|style|iframe|noscript|object|svg|template)\b.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL
)
_GOOGLE_SOURCE_RE = re.compile(r"<font\b[^>]*color=[\"']?#6f6f6f[^>]*>.*?</font\s*>", re.IGNORECASE | re.DOTALL)
# Slashdot's share buttons: a div of links around icons, no text of its own.
_SHARE_DIV_RE = re.compile(r"<div\b[^>]*class=[\"']?share[^>]*>.*?</div\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)|<!\[CDATA\[|\]\]>", re.DOTALL)
_BLOCK_LIST = (
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr td th dd dt dl table blockquote section article header footer "
    "figure figcaption hr pre aside nav img"
)
_BLOCK_NAMES = _BLOCK_LIST.split()
# Case-sensitive with both spellings: twice as fast as IGNORECASE; a rare "<Br>" just loses its space.
_BLOCK_TAG_RE = re.compile(
    "</?(?:" + "|".join(sorted(_BLOCK_NAMES + [n.upper() for n in _BLOCK_NAMES], key=len, reverse=True)) + r")\b[^>]*>"
)
_TAG_RE = re.compile(r"<(?:/?[A-Za-z]|[!?])[^<>]*>")
_DROP_HINTS = ("<script", "<style", "<iframe", "<noscript", "<object", "<svg", "<template")
_ENTITY_RE = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});?")

# Control characters, C1, lone surrogates, zero-width and bidi controls (a reordering trick in a headline),
# noncharacters. Whitespace controls (\t \n \r ...) are left for the whitespace collapse.
_CTRL_RE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x9f\ud800-\udfff\u00ad\u200b\u200e\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb\ufffe\uffff]"
)

# UTF-8 read as windows-1252 / Latin-1 and re-encoded ("Ã©" for "é", "â€¦" for "…"), sometimes delivered as
# entities. Only the unmistakable lead characters are repaired, so real French, German or Spanish text is safe.
_CP1252_HIGH = bytes(range(0x80, 0xA0)).decode("cp1252", errors="ignore")
_CONT = "\u0080-\u00bf" + re.escape("".join(c for c in _CP1252_HIGH if ord(c) > 0xFF))
_MOJIBAKE_RE = re.compile(f"[\u00c2\u00c3][{_CONT}]|\u00e2[{_CONT}][{_CONT}]")
_CP1252_BYTE = {c: c.encode("cp1252")[0] for c in _CP1252_HIGH if ord(c) > 0xFF}

# Boilerplate that publishers append to every description.
_SLASHDOT_RE = re.compile(r"\s*Read more of this story\s*at Slashdot\.?", re.IGNORECASE)
_REDDIT_RE = re.compile(
    r"\s*submitted by\s+/?u/[\w-]+(?:\s+to\s+/?r/\w+)?(?:\s*\[link\])?(?:\s*\[comments\])?", re.IGNORECASE
)
_ARS_RE = re.compile(r"\s*Read full article(?:\s+Comments)?\s*", re.IGNORECASE)
_BLOOMBERG_RE = re.compile(
    r"\s*(?:(?:To read more articles like this|More stories like this are available)"
    r"[, ]*(?:please visit us at|on)?\s*bloomberg\.com.*"
    r"|(?:©|\(c\))\s*\d{4}\s*Bloomberg L\.P\..*)",
    re.IGNORECASE,
)


def _fix_mojibake(match: re.Match[str]) -> str:
    run = match.group()
    try:
        raw = bytes(ord(c) if ord(c) <= 0xFF else _CP1252_BYTE[c] for c in run)
        return raw.decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return run


def _strip_tags(s: str) -> str:
    lower = s.lower()
    if "<!" in s:
        s = _COMMENT_RE.sub(" ", s)
    if any(hint in lower for hint in _DROP_HINTS):
        s = _DROP_ELEMENTS_RE.sub(" ", s)
    if "#6f6f6f" in lower:
        s = _GOOGLE_SOURCE_RE.sub(" ", s)
    if "class=" in lower and "share" in lower:
        s = _SHARE_DIV_RE.sub(" ", s)
    s = _TAG_RE.sub("", _BLOCK_TAG_RE.sub(" ", s))
    # A tag cut off by the input cap (or by a broken feed) has no ">": drop its remains, but keep "x<y is true".
    lt = s.rfind("<")
    if lt >= 0 and ">" not in s[lt:]:
        rest = s[lt + 1 :]
        if (rest[:1].isalpha() or rest[:1] == "/") and ("=" in rest or (len(rest) < 12 and " " not in rest)):
            s = s[:lt]
    return s


def _strip_boilerplate(s: str) -> str:
    if "Slashdot" in s or "slashdot" in s:
        s = _SLASHDOT_RE.sub("", s)
    if "submitted by" in s:
        s = _REDDIT_RE.sub("", s)
    if "ead full article" in s:
        s = _ARS_RE.sub(" ", s)
    if "loomberg" in s:
        s = _BLOOMBERG_RE.sub("", s)
    return s


def _truncate(s: str, max_len: int) -> str:
    if len(s) <= max_len:
        return s
    cut = s[: max_len - 1]
    space = cut.rfind(" ")
    if space >= max_len // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def clean_text(s: str, *, max_len: int) -> str:
    """Plain, single-line, NFC text of at most ``max_len`` characters; never raises.

    >>> clean_text("<p>Nvidia &amp;mdash; up&nbsp;5%</p><img src='x'>", max_len=100)
    'Nvidia — up 5%'
    """
    if not s or max_len <= 0:
        return ""
    # Bound the work on a hostile 1 MB field: what is kept is at most max_len anyway.
    s = s[: max(max_len * 16, 16384)]
    if "<" in s:
        s = _strip_tags(s)
    if "&" in s:
        for _ in range(3):  # double- and triple-escaped feeds: "&amp;mdash;", "&amp;#39;"
            if "&" not in s or not _ENTITY_RE.search(s):
                break
            s = html.unescape(s)
        if "<" in s:  # escaped markup ("&lt;b&gt;") only becomes tags after decoding
            s = _strip_tags(s)
    if not s.isascii():
        if "\u00c2" in s or "\u00c3" in s or "\u00e2" in s:
            s = _MOJIBAKE_RE.sub(_fix_mojibake, s)
        if not s.isprintable():
            s = _CTRL_RE.sub("", s)
        if not unicodedata.is_normalized("NFC", s):
            s = unicodedata.normalize("NFC", s)
    elif not s.isprintable():
        s = _CTRL_RE.sub("", s)
    s = " ".join(s.split())
    s = _strip_boilerplate(s).strip()
    return _truncate(s, max_len)


# ---------------------------------------------------------------------------------------------------
# Comparison forms

_NON_WORD_RE = re.compile(r"[\W_]+")
_ASCII_WORD_RE = re.compile("[0-9a-z]+")
_COMBINING_RE = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_SEPARATORS = (" - ", " | ", " – ", " — ")
_NAME_LINKS = frozenset({"of", "the", "and", "&", "on", "de", "du", "la", "le", "les", "des", "di", "der", "die"})


def _fold(s: str) -> str:
    """Case, width and accent folded: the form two copies of one text share."""
    if s.isascii():
        return s.casefold()
    s = unicodedata.normalize("NFKC", s).casefold()
    return _COMBINING_RE.sub("", unicodedata.normalize("NFD", s))


def _loose(s: str) -> str:
    """Folded words only, one space apart: what is left when punctuation and spacing are ignored."""
    if s.isascii():
        return " ".join(_ASCII_WORD_RE.findall(s.casefold()))
    return " ".join(_NON_WORD_RE.sub(" ", _fold(s)).split())


def _sha1(s: str, n: int = KEY_HASH_LEN) -> str:
    return hashlib.sha1(s.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()[:n]


def _looks_like_publisher(tail: str) -> bool:
    """True for "Reuters", "The Wall Street Journal", "Le Monde.fr"; false for "la bulle inquiète"."""
    words = tail.split()
    if not 1 <= len(words) <= 6:
        return False
    capitalised = [w for w in words if w[0].isupper() or w[0].isdigit()]
    return bool(capitalised) and all(w in capitalised or w.lower() in _NAME_LINKS for w in words)


def _publisher_suffix(title: str) -> int:
    """Where a trailing " - Publisher" starts in ``title`` (after the last separator), or -1."""
    at = max(title.rfind(sep) for sep in _SEPARATORS)
    if at <= 0:
        return -1
    tail = title[at + 3 :]
    if len(tail) > 60 or any(sep.strip() in tail for sep in _SEPARATORS):
        return -1
    return at if _looks_like_publisher(tail) else -1


def title_fingerprint(title: str) -> str:
    """A short hash of the title as syndicated copies share it: case, accents, punctuation and a trailing
    " - Publisher" ignored. Equal fingerprints within a few days mean "the same story"."""
    at = _publisher_suffix(title)
    if at > 0:
        title = title[:at]
    norm = _loose(title)
    if not norm:  # only symbols or emoji: keep them rather than collide with every other such title
        norm = " ".join(_fold(title).split())
    return _sha1(norm, 16)


# ---------------------------------------------------------------------------------------------------
# URLs

_TRACKING_PARAMS = frozenset(
    {
        ".tsrc", "tsrc", "oc", "guccounter", "guce_referrer", "guce_referrer_sig", "fbclid", "gclid", "dclid",
        "gclsrc", "msclkid", "yclid", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "igshid", "ncid",
        "cmpid", "soc_src", "soc_trk", "smid", "sr_share", "utm",
    }
)  # fmt: skip
# Names that are tracking only when their value says "rss" or "feed" (ref=rss, src=feed, partner=rss).
_RSS_VALUE_PARAMS = frozenset({"ref", "ref_src", "src", "source", "partner", "from", "feed", "cmp", "rss"})
_RSS_VALUE_RE = re.compile(r"^(?:rss|feed|atom|fexrss)", re.IGNORECASE)
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_QUERY_SAFE = "/:@!$'()*,;"


def _is_tracking(name: str, value: str) -> bool:
    lower = name.lower()
    if lower.startswith("utm_") or lower in _TRACKING_PARAMS:
        return True
    return lower in _RSS_VALUE_PARAMS and bool(_RSS_VALUE_RE.match(value))


def _unwrap_redirect(host: str, path: str, query: str) -> str | None:
    """The real address inside a Bing news click-through (``apiclick.aspx?...&url=<encoded>``)."""
    if host.endswith("bing.com") and path.lower().endswith("/apiclick.aspx"):
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name.lower() == "url" and re.match(r"^https?://", value, re.IGNORECASE):
                return value
    return None


def _host_port(netloc: str) -> tuple[str, str]:
    """(lower-case host, port text) of a netloc; user info dropped. Never raises, unlike ``SplitResult.port``."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):  # IPv6 literal
        end = hostport.find("]")
        if end < 0:
            return hostport.lower(), ""
        rest = hostport[end + 1 :]
        return hostport[: end + 1].lower(), rest[1:] if rest.startswith(":") else ""
    host, _, port = hostport.partition(":")
    return host.lower().rstrip("."), port


def canonical_url(url: str) -> str:
    """The URL in the form every copy of one link shares; idempotent.

    Tracking parameters go, scheme and host are lower-cased, the default port and the fragment are dropped,
    the remaining query parameters are sorted, Bing click-through redirects are unwrapped.
    """
    url = url.strip()
    for _ in range(3):  # a redirect may wrap a redirect; never loop
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            return url
        host, port = _host_port(parts.netloc)
        inner = _unwrap_redirect(host, parts.path, parts.query)
        if inner is None:
            break
        url = inner.strip()
    netloc = host if not port or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = parts.path or "/"
    if "%" in path or " " in path:
        path = quote(unquote(path), safe="/:@!$&'()*+,;=~-._")
    if not parts.query or (host == "news.google.com" and path.startswith("/rss/articles/")):
        # (a Google News article token is the identity; hl/gl/ceid/oc only say which edition)
        return f"{scheme}://{netloc}{path}"
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k, v)]
    if not pairs:
        return f"{scheme}://{netloc}{path}"
    query = urlencode(sorted(pairs), quote_via=quote, safe=_QUERY_SAFE)
    return f"{scheme}://{netloc}{path}?{query}"


_WRAP_RE = re.compile(r"[ \t]*[\r\n]+[ \t]*|\t")
# Scheme, optional user info, then a host (name or bracketed IPv6 literal), optional port, then the end or a path.
_HTTP_URL_RE = re.compile(
    r"https?://(?:[^\s/?#@]*@)?(?:\[[0-9A-Fa-f:.]+\]|[^\s/?#:@\[\]]+)(?::[0-9]{0,5})?(?:[/?#]|$)", re.IGNORECASE
)


def safe_link(link: str | None) -> str | None:
    """The link if it is a usable http(s) URL, else None (``javascript:``, ``data:``, junk)."""
    if not link:
        return None
    link = link.strip()
    if "\n" in link or "\r" in link or "\t" in link:  # feeds wrap long links over several (indented) lines
        link = _WRAP_RE.sub("", link)
    if len(link) > URL_MAX_LEN or "\\" in link or not _HTTP_URL_RE.match(link):
        return None
    if not link.isprintable() or " " in link:
        if _CTRL_RE.search(link):
            return None
        link = link.replace(" ", "%20")
    return link


# ---------------------------------------------------------------------------------------------------
# Items


@dataclass(slots=True)
class Cleaned:
    """One item after cleaning: bounded plain text, a usable link or None, a UTC date and its keys."""

    title: str
    summary: str
    url: str | None
    guid: str | None
    publisher: str | None
    author: str | None
    published_at: datetime  # aware UTC
    published_raw: str | None
    date_flag: str  # ok | inferred | future | ancient
    dedupe_key: str  # never empty
    title_fp: str
    language_hint: str | None


_SENTENCE_END_RE = re.compile(r"[.!?…](?=\s|$)")
_YMD_RE = re.compile(r"^\s*(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def _title_from_summary(summary: str) -> str:
    for m in _SENTENCE_END_RE.finditer(summary):
        if m.end() >= 20:
            sentence = summary[: m.end()]
            break
    else:
        sentence = summary
    return _truncate(sentence, TITLE_FROM_SUMMARY_LEN)


def _split_publisher(title: str, publisher: str | None, aggregator: bool) -> tuple[str, str | None]:
    """Move a trailing " - Publisher" (or " | Publisher") from the title into the publisher."""
    if publisher:
        wanted = ""
        for sep in _SEPARATORS:
            at = title.rfind(sep)
            if at > 0 and len(title) - at <= len(publisher) + 8:
                wanted = wanted or _loose(publisher)
                if wanted and _loose(title[at + len(sep) :]) == wanted:
                    return title[:at].rstrip(), publisher
        return title, publisher
    at = _publisher_suffix(title) if aggregator else -1
    if at > 0:
        return title[:at].rstrip(), title[at + 3 :].strip()
    return title, publisher


def _clean_name(s: str | None) -> str | None:
    if not s:
        return None
    # Google News source names can carry stray separators ("San Juan Record |").
    name = clean_text(s, max_len=NAME_MAX_LEN).strip(" |-–—·:,;")
    return name or None


def _date_from_raw(raw: str) -> datetime | None:
    m = _YMD_RE.match(raw)
    if not m:
        return None
    try:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
        hh, mm, ss = int(m[4] or 0), int(m[5] or 0), int(m[6] or 0)
        return datetime(y, mo, d, hh, mm, ss, tzinfo=UTC)
    except ValueError:
        return None


def _date(raw: RawItem, now: datetime) -> tuple[datetime, str]:
    published = raw.published
    if published is None:
        return now, "inferred"
    published = published.replace(tzinfo=UTC) if published.tzinfo is None else published.astimezone(UTC)
    if raw.published_raw:
        # feedparser reads "2020/1/10 14:33:00" as 2020-11-01: believe the raw string when they disagree.
        own = _date_from_raw(raw.published_raw)
        if own is not None and abs(own - published) > timedelta(days=1):
            published = own
    if published > now + FUTURE_SKEW:
        return now, "future"
    if published < EARLIEST_DATE:
        return now, "ancient"
    return published, "ok"


def _language_hint(*hints: str | None) -> str | None:
    for hint in hints:
        code = language_code(hint[:40]) if hint else None
        if code:
            return code
    return None


def _clean_guid(raw: str | None) -> tuple[str | None, str | None]:
    """(guid to store, guid for the key): whitespace-only is no guid; a huge one is stored cut, keyed whole."""
    if not raw:
        return None, None
    guid = raw.strip()
    if not guid.isprintable():
        guid = " ".join(_CTRL_RE.sub("", guid).split())
    if not guid:
        return None, None
    if len(guid) > GUID_MAX_LEN:
        return guid[:GUID_MAX_LEN], "sha1-" + _sha1(guid, 40)
    return guid, guid


def dedupe_key(url: str | None, guid: str | None, source_name: str, title: str, summary: str) -> str:
    """``url:<hash>`` of the canonical URL, else ``guid:<source>:<guid>``, else ``hash:<hash>`` of the text."""
    return _key(canonical_url(url) if url else None, guid, source_name, title, summary)


def _text_hash(title: str, summary: str) -> str:
    return _sha1(_fold(" ".join(title.split())) + "\n" + _fold(" ".join(summary.split())))


def _is_site_root(canonical: str) -> bool:
    """``https://example.com/``: a home page says nothing about which story an item is."""
    rest = canonical.split("//", 1)[-1]
    return "/" not in rest.rstrip("/") and "?" not in rest


def _key(canonical: str | None, guid: str | None, source_name: str, title: str, summary: str) -> str:
    # ``dedupe_key`` for a URL already canonical (clean_item has it: canonicalising twice is measurable).
    # Feeds that link every item to their home page are common enough: such a link is no key.
    if canonical and not _is_site_root(canonical):
        return "url:" + _sha1(canonical)
    if guid:
        return f"guid:{source_name}:{guid}"
    return "hash:" + _text_hash(title, summary)


def disambiguate_keys(items: list[Cleaned], *, repeats_keys: bool = False) -> bool:
    """Within one response, items that share a key but not their text get the text's hash added to the key.

    Broken feeds give every item the same guid; without this all but one of those stories would be taken
    for copies of it. The text, not the position, tells them apart, so each keeps its key from one fetch to
    the next; the same story twice in a response stays one. Returns whether any key was shared. For a source
    known to repeat keys (``repeats_keys``, remembered from an earlier response) every guid key gets the
    hash, so a later response with a single new story under the old guid is not taken for the first one.
    """
    texts: dict[str, set[str]] = {}
    for it in items:
        texts.setdefault(it.dedupe_key, set()).add(_text_hash(it.title, it.summary))
    shared = {key for key, hashes in texts.items() if len(hashes) > 1}
    for it in items:
        if it.dedupe_key in shared or (repeats_keys and it.dedupe_key.startswith("guid:")):
            it.dedupe_key = f"{it.dedupe_key}|{_text_hash(it.title, it.summary)}"
    return bool(shared)


def clean_item(
    raw: RawItem,
    *,
    now: datetime,
    source_name: str,
    feed_language: str | None = None,
    title_max: int = TITLE_MAX_LEN,
    summary_max: int = SUMMARY_MAX_LEN,
) -> Cleaned | None:
    """The cleaned item, or None when it has neither a title nor any summary text."""
    url = safe_link(raw.link)
    title = clean_text(raw.title, max_len=title_max) if raw.title else ""
    summary = ""
    # Google News descriptions are the title again plus the grey source label, or an <ol> of other stories'
    # titles: never text about this item.
    if raw.summary and "#6f6f6f" not in raw.summary:
        summary = clean_text(raw.summary, max_len=summary_max)
    publisher = _clean_name(raw.publisher)
    author = _clean_name(raw.author)
    aggregator = url is not None and "news.google." in url[:40]
    if title:
        full_title = title
        title, publisher = _split_publisher(title, publisher, aggregator)
        if summary and len(summary) <= len(full_title) + len(publisher or "") + 8:
            s = _loose(summary)
            # Google News and some Reddit items repeat the title (plus the source) as their description.
            if s in (_loose(title), _loose(full_title)) or (publisher and s == _loose(f"{title} {publisher}")):
                summary = ""
    if not title:
        if not summary:
            return None
        title = _title_from_summary(summary)

    guid, key_guid = _clean_guid(raw.guid)
    # Stored without tracking parameters and with redirects unwrapped: readers follow the real link.
    url = canonical_url(url) if url else None
    key_url = url
    if key_url is None and guid and re.match(r"^https?://", guid, re.IGNORECASE):
        permalink = safe_link(guid)  # a permalink guid is a URL: lets other sources' copies collide with it
        key_url = canonical_url(permalink) if permalink else None

    published_at, flag = _date(raw, now)
    return Cleaned(
        title=title,
        summary=summary,
        url=url,
        guid=guid,
        publisher=publisher,
        author=author,
        published_at=published_at,
        published_raw=clean_text(raw.published_raw, max_len=200) or None if raw.published_raw else None,
        date_flag=flag,
        dedupe_key=_key(key_url, key_guid, source_name, title, summary),
        title_fp=title_fingerprint(title),
        language_hint=_language_hint(raw.language, feed_language),
    )
