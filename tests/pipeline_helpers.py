"""Plain factory functions for end-to-end tests: a config whose sources point at a local server."""

from __future__ import annotations

from typing import Any

from tracker.config import Config, SourceConfig, load_config
from tracker.settings import Settings


def make_config(db_url: str, sources: list[tuple[str, str, str]], **settings: Any) -> Config:
    """Built-in topics, the given (name, kind, url) sources, private networks allowed (the server is local)."""
    values: dict[str, Any] = {"database_url": db_url, "allow_private_networks": True, "fetch_deadline": 10.0}
    values.update(settings)
    return Config(
        path="<test>",
        settings=Settings(**values),
        sources=[SourceConfig(name=n, kind=k, url=u) for n, k, u in sources],  # type: ignore[arg-type]
        topics=load_config(None).topics,
    )


RSS_ITEM = """<item><title>{title}</title><link>{link}</link><description>{summary}</description>{date}</item>"""


def rss(items: list[dict[str, str]], *, language: str = "en") -> bytes:
    body = "".join(
        RSS_ITEM.format(
            title=i["title"],
            link=i.get("link", ""),
            summary=i.get("summary", ""),
            date=f"<pubDate>{i['date']}</pubDate>" if i.get("date") else "",
        )
        for i in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://example.com/</link><description>d</description><language>{language}</language>{body}</channel></rss>"
    ).encode()
