"""Logging: text for people on a terminal, JSON lines under systemd, secrets scrubbed either way.

`--log-format auto` (the default) writes JSON lines when stderr is connected to the journal
(systemd sets JOURNAL_STREAM to the device:inode of that stream; it is checked against stderr,
because a child of a service inherits the variable without the stream), and text otherwise.

The secrets in force are registered with a redacting filter as a last line of defence: the code
never formats a secret into a message on purpose (they live in `settings.Secret`), but if an
exception from a library ever carried one, the log line shows `***` instead.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from reconciler.cli.settings import LogFormat
from reconciler.clob import MIN_SECRET_LENGTH, Redactor

# LogRecord attributes that are not "extra" fields.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class RedactingFilter(logging.Filter):
    """Replace every registered secret in the final message (and traceback) with `***`.

    The rule is `reconciler.clob.Redactor`'s, the same one the client applies to exchange
    text: whole values only, and only values long enough to be secrets (a one-letter
    passphrase must not turn "Unauthorized" into "Unauthori***ed"). A secret refused for being
    too short is reported once, by count, never by value.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._redactor = Redactor(marker="***")
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secrets (e.g. API credentials derived after logging was set up)."""
        refused = self._redactor.add(secrets)
        if refused:
            logging.getLogger(__name__).warning(
                "%d secret(s) are shorter than %d characters: too short to be scrubbed from "
                "log lines without mangling ordinary words; use longer credentials",
                refused, MIN_SECRET_LENGTH,
            )

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._redactor:
            return True
        message = record.getMessage()
        text = self._redactor.scrub(message)
        exc_text = self._redactor.scrub(_format_exc(record)) if record.exc_info else None
        if text != message or exc_text is not None:
            record.msg, record.args = text, None
            if exc_text is not None:
                record.exc_info, record.exc_text = None, exc_text
        return True


def _format_exc(record: logging.LogRecord) -> str:
    return logging.Formatter().formatException(record.exc_info) if record.exc_info else ""


#: The one redactor every handler installed here shares, so secrets learned later reach it.
_REDACTOR = RedactingFilter()


def add_secrets(secrets: Iterable[str]) -> None:
    """Scrub these strings from every log line written through `configure_logging`'s handler."""
    _REDACTOR.add(secrets)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, any `extra=` fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
        self.converter = time.localtime


def journal_attached(env: Mapping[str, str] | None = None, stream: IO[str] | None = None) -> bool:
    env = os.environ if env is None else env
    value = env.get("JOURNAL_STREAM", "")
    stream = sys.stderr if stream is None else stream
    try:
        device, inode = (int(part) for part in value.split(":"))
        info = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (info.st_dev, info.st_ino) == (device, inode)


def configure_logging(
    *,
    log_format: LogFormat = LogFormat.AUTO,
    level: str = "INFO",
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
    log_file: Path | None = None,
) -> logging.Handler:
    """Install one handler on the root logger (replacing ours from an earlier call).
    `log_file`: append to that file (mode 0600) instead of stderr; `reopen_logs()` (SIGHUP)
    re-opens it after a rotation, and a file moved away is noticed by itself too."""
    stream = sys.stderr if stream is None else stream
    handler: logging.Handler
    if log_file is not None:
        if log_format is LogFormat.AUTO:
            log_format = LogFormat.JSON
        _create_private(log_file)
        handler = logging.handlers.WatchedFileHandler(log_file, encoding="utf-8")
    else:
        if log_format is LogFormat.AUTO:
            log_format = LogFormat.JSON if journal_attached(env, stream) else LogFormat.TEXT
        handler = logging.StreamHandler(stream)
    handler.set_name("reconciler")
    handler.setFormatter(JsonFormatter() if log_format is LogFormat.JSON else TextFormatter())
    _REDACTOR.add(secrets)
    handler.addFilter(_REDACTOR)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "reconciler"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The libraries underneath are chatty at INFO (every scheduler run, every HTTP connection).
    for name in ("urllib3", "watchdog"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # APScheduler warns when the interval fires during a long tick; the daemon reschedules anyway.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    return handler


def reopen_logs() -> None:
    """Re-open our log file, if logging goes to one (SIGHUP after logrotate moved it)."""
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "reconciler" and isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                if handler.stream is not None:
                    handler.stream.close()
                _create_private(Path(handler.baseFilename))
                handler.stream = handler._open()
            finally:
                handler.release()


def _create_private(path: Path) -> None:
    """The log file exists with mode 0600 before the handler opens it (appending)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
