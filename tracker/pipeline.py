"""``run_once``: one collection cycle, the single entry point of the scheduler, the CLI and the tests.

claim due sources -> fetch them concurrently -> parse -> clean -> detect language -> tag -> score -> store
(one transaction per source) -> evaluate alert rules and deliver notifications. A source that fails records
its error and backs off; it never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from tracker import sources as parsers
from tracker.clean import clean_item, disambiguate_keys
from tracker.config import Config, TopicConfig
from tracker.fetch import Fetcher, FetchResult
from tracker.language import detect_language
from tracker.models import Headline, ParseResult
from tracker.sentiment import get_router
from tracker.store import ingest
from tracker.store.sources import Claim, claim_due, holder_id, sync_sources
from tracker.tag import Tagger

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SourceReport:
    name: str
    new: int = 0
    seen: int = 0
    skipped: int = 0
    status: int | None = None
    not_modified: bool = False
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CycleReport:
    started_at: datetime
    finished_at: datetime | None = None
    sources: list[SourceReport] = field(default_factory=list)
    alerts: Any = None

    @property
    def new(self) -> int:
        return sum(s.new for s in self.sources)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.sources if s.error)


_taggers: dict[tuple[int, int], Tagger] = {}


def tagger_for(topics: list[TopicConfig]) -> Tagger:
    """One compiled tagger per topic list (compiling is the expensive part)."""
    key = (id(topics), len(topics))
    tagger = _taggers.get(key)
    if tagger is None:
        tagger = _taggers[key] = Tagger(topics)
    return tagger


def build_headlines(
    claim: Claim, parsed: ParseResult, *, now: datetime, tagger: Tagger
) -> tuple[list[Headline], int, bool]:
    """Pure step from parsed items to headlines ready to store: them, how many were unusable, and whether
    several stories of the response shared one key (remembered on the source, see clean.disambiguate_keys)."""
    router = get_router()
    out: list[Headline] = []
    skipped = parsed.skipped
    feed_language = parsed.feed_language
    items = []
    for raw in parsed.items:
        cleaned = clean_item(raw, now=now, source_name=claim.name, feed_language=feed_language)
        if cleaned is None:
            skipped += 1
        else:
            items.append(cleaned)
    repeats_keys = disambiguate_keys(items, repeats_keys=claim.repeats_keys)
    languages = [detect_language(f"{c.title} {c.summary[:300]}", c.language_hint or claim.language) for c in items]
    # The headline is scored, not the article: summaries are teasers and boilerplate. One call per response,
    # so a scorer that works in batches (the optional model) sees the whole response at once.
    scores = router.score_many([(c.title, lang) for c, lang in zip(items, languages, strict=True)])
    for cleaned, language, score in zip(items, languages, scores, strict=True):
        out.append(
            Headline(
                dedupe_key=cleaned.dedupe_key,
                title_fp=cleaned.title_fp,
                title=cleaned.title,
                summary=cleaned.summary,
                url=cleaned.url,
                guid=cleaned.guid,
                publisher=cleaned.publisher,
                author=cleaned.author,
                published_at=cleaned.published_at,
                published_raw=cleaned.published_raw,
                date_flag=cleaned.date_flag,
                language=language,
                topics=tagger.tag(cleaned.title, cleaned.summary),
                score=score,
            )
        )
    return out, skipped, repeats_keys


def process_result(
    engine: Engine, config: Config, claim: Claim, result: FetchResult, *, now: datetime, tagger: Tagger
) -> SourceReport:
    """Parse and store one fetch result; every failure is recorded on the source."""
    report = SourceReport(name=claim.name, status=result.status, not_modified=result.not_modified)
    try:
        if result.error:
            report.error = result.error
            ingest.save_error(
                engine, claim, now=now, status=result.status, error=result.error, retry_at=result.retry_after
            )
            return report
        if result.not_modified:
            ingest.save_fetch(
                engine,
                claim,
                [],
                now=now,
                status=result.status,
                etag=result.etag,
                last_modified=result.last_modified,
                not_modified=True,
            )
            return report
        parsed = parsers.parse(
            claim.kind, result.body or b"", result.content_type, max_items=config.settings.max_items_per_fetch
        )
        report.warnings = list(parsed.warnings)
        if parsed.error:
            report.error = f"parse error: {parsed.error}"
            ingest.save_error(engine, claim, now=now, status=result.status, error=report.error)
            return report
        headlines, report.skipped, repeats_keys = build_headlines(claim, parsed, now=now, tagger=tagger)
        saved = ingest.save_fetch(
            engine,
            claim,
            headlines,
            now=now,
            status=result.status,
            etag=result.etag,
            last_modified=result.last_modified,
            repeats_keys=repeats_keys,
        )
        report.new, report.seen = saved.new, saved.seen
    except Exception as exc:  # one source's bug or a database hiccup must not stop the cycle
        log.exception("source %s failed", claim.name)
        report.error = f"internal error: {type(exc).__name__}: {exc}"[:500]
        try:
            ingest.save_error(engine, claim, now=now, status=result.status, error=report.error)
        except Exception:
            log.exception("could not record the error of source %s", claim.name)
    return report


async def _collect(
    engine: Engine,
    config: Config,
    claims: list[Claim],
    *,
    now: datetime | None,
    fetcher: Fetcher | None,
    progress: Callable[[SourceReport], None] | None,
) -> list[SourceReport]:
    tagger = tagger_for(config.topics)
    own = fetcher is None
    f = fetcher or Fetcher(config.settings)
    reports: list[SourceReport] = []

    async def one(claim: Claim) -> tuple[Claim, FetchResult]:
        return claim, await f.fetch(claim.url, etag=claim.etag, last_modified=claim.last_modified)

    try:
        for next_done in asyncio.as_completed([one(c) for c in claims]):
            claim, result = await next_done
            # Storing runs between network waits; it is short (one transaction per source).
            report = process_result(engine, config, claim, result, now=now or datetime.now(UTC), tagger=tagger)
            reports.append(report)
            if progress:
                progress(report)
    finally:
        if own:
            await f.aclose()
    return reports


def run_alerts(engine: Engine, config: Config, *, now: datetime) -> Any:
    """Evaluate alert rules and deliver what is due; never raises."""
    from tracker.alerts.evaluate import evaluate_all
    from tracker.alerts.notify import deliver_pending

    try:
        report = evaluate_all(engine, config.settings, now=now)
        deliver_pending(engine, config.settings, now=now)
        return report
    except Exception:
        log.exception("alert evaluation failed")
        return None


def run_once(
    engine: Engine,
    config: Config,
    *,
    now: datetime | None = None,
    names: list[str] | None = None,
    force: bool = False,
    fetcher: Fetcher | None = None,
    progress: Callable[[SourceReport], None] | None = None,
    on_claimed: Callable[[int], None] | None = None,
    alerts: bool = True,
) -> CycleReport:
    """One cycle: fetch what is due (every source with ``force``; only ``names`` when given), store, alert."""
    started = now or datetime.now(UTC)
    cycle = CycleReport(started_at=started)
    with engine.begin() as conn:
        sync_sources(conn, config, now=started)
    claims = claim_due(engine, now=started, holder=holder_id(), names=names, force=force)
    if on_claimed:
        on_claimed(len(claims))
    if claims:
        cycle.sources = asyncio.run(_collect(engine, config, claims, now=now, fetcher=fetcher, progress=progress))
    if alerts:
        cycle.alerts = run_alerts(engine, config, now=now or datetime.now(UTC))
    cycle.finished_at = datetime.now(UTC) if now is None else now
    return cycle
