"""Registers the collection cycle and the alert evaluation with APScheduler 3.x; nothing else.

The schedule itself lives in the database (each source's ``next_fetch_at``): the job is a tick that runs
``pipeline.run_once``, which claims only what is due. So several processes can tick on one PostgreSQL
without fetching a source twice, and a restart carries on where it stopped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.engine import Engine

from tracker.config import Config
from tracker.durations import parse_duration
from tracker.pipeline import run_alerts, run_once

log = logging.getLogger(__name__)


def collect_tick(engine: Engine, config: Config) -> None:
    try:
        report = run_once(engine, config)
    except Exception:  # a database outage: log it and try again at the next tick, no crash loop
        log.exception("collection cycle failed")
        return
    if report.sources:
        log.info("cycle: %d sources, %d new headlines, %d errors", len(report.sources), report.new, report.errors)


def alerts_tick(engine: Engine, config: Config) -> None:
    run_alerts(engine, config, now=datetime.now(UTC))


def build_scheduler(engine: Engine, config: Config, *, blocking: bool = False) -> BaseScheduler:
    """A scheduler with the collection tick (first run at once) and the alert timer."""
    tick = config.settings.tick_seconds
    defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": max(60, int(tick * 2))}
    scheduler: BaseScheduler = (BlockingScheduler if blocking else BackgroundScheduler)(
        timezone=UTC, job_defaults=defaults
    )
    scheduler.add_job(
        collect_tick, "interval", seconds=tick, args=(engine, config), id="collect", next_run_time=datetime.now(UTC)
    )
    scheduler.add_job(
        alerts_tick,
        "interval",
        seconds=parse_duration(config.settings.alert_every).total_seconds(),
        args=(engine, config),
        id="alerts",
    )
    return scheduler
