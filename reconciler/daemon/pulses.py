"""The tick's trigger, and the timers beside the tick: the systemd watchdog ping, and the
exchange heartbeat (off by default), both sent only while the loop is healthy
(`support.Health`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from reconciler.daemon.sdnotify import SystemdNotifier
from reconciler.daemon.support import Health

log = logging.getLogger("reconciler.daemon.daemon")


class ChosenTimeTrigger(BaseTrigger):
    """Fire when the daemon says; the interval is only the fallback while a tick runs.

    APScheduler asks a trigger for the next fire time right after submitting a run. A tick that
    finishes faster than that submission completes has its listener run first, inside the
    scheduler's loop, and the trigger's answer would overwrite the time the listener chose. So
    the chosen time lives here, and a choice made during the current run wins over the fallback.
    """

    def __init__(self, *, fallback_seconds: float) -> None:
        self._fallback = timedelta(seconds=fallback_seconds)
        self._chosen: datetime | None = None
        self._guard = threading.Lock()

    def choose(self, when: datetime) -> None:
        with self._guard:
            self._chosen = when

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        with self._guard:
            chosen = self._chosen
        if chosen is not None and (previous_fire_time is None or chosen > previous_fire_time):
            return chosen
        return now + self._fallback

    def __str__(self) -> str:
        return f"chosen-time (fallback {self._fallback})"


class Pulses:
    """The timers beside the tick: the systemd watchdog ping, and the exchange heartbeat (off by
    default). Both are sent only while the loop is healthy."""

    def __init__(
        self,
        *,
        notifier: SystemdNotifier,
        health: Health,
        heartbeat: Callable[[str], str] | None,
        interval_seconds: float,
        heartbeat_seconds: float | None,
        ready: Callable[[], bool],
    ) -> None:
        self._notifier = notifier
        self._health = health
        self._heartbeat = heartbeat
        self._interval = interval_seconds
        self._heartbeat_seconds = heartbeat_seconds
        self._ready = ready
        self._heartbeat_id = ""
        self._heartbeat_failures = 0

    def add_jobs(self, scheduler: BackgroundScheduler) -> None:
        watchdog = self._notifier.watchdog_seconds
        if watchdog:
            scheduler.add_job(
                self.watchdog, trigger=IntervalTrigger(seconds=max(watchdog / 2, 0.5)),
                id="watchdog", max_instances=1, coalesce=True, misfire_grace_time=None,
            )
        if self._heartbeat is not None and self._heartbeat_seconds:
            log.warning(
                "exchange heartbeats are on: if they stop for ~10 s (daemon stopped, crashed or "
                "unhealthy), the exchange cancels EVERY order of this API key"
            )
            scheduler.add_job(
                self.heartbeat,
                trigger=IntervalTrigger(seconds=self._heartbeat_seconds),
                id="heartbeat", max_instances=1, coalesce=True, misfire_grace_time=None,
            )

    def watchdog(self) -> None:
        watchdog = self._notifier.watchdog_seconds
        # Health turns good before READY=1 is sent (same tick); never ping ahead of READY.
        if watchdog and self._ready() and self._health.healthy(watchdog_seconds=watchdog):
            self._notifier.watchdog()

    def heartbeat(self) -> None:
        # Heartbeats keep the exchange's dead-man switch armed only while we are doing our job.
        grace = max(self._interval * 3, 30.0)
        if self._heartbeat is None or not self._health.healthy(watchdog_seconds=grace):
            return
        try:
            self._heartbeat_id = self._heartbeat(self._heartbeat_id) or ""
            self._heartbeat_failures = 0
        except Exception as exc:
            self._heartbeat_failures += 1
            if self._heartbeat_failures in (1, 3) or self._heartbeat_failures % 60 == 0:
                log.error("heartbeat failed (%dx): %s", self._heartbeat_failures, exc)


__all__ = ["ChosenTimeTrigger", "Pulses"]
