"""SQLite is the embedded, single-process database: a second process serving the same file is
refused at start.

Each serving process holds an exclusive ``flock`` on ``<database file>.serve.lock`` (taken at
start, released when the process exits, whatever the way: the kernel drops it with the process).
Apps started inside one process share the hold (tests run several on one file). Why refuse rather
than coordinate: the turn claim itself works on SQLite too, but SQLite has one writer for the
whole file, so a second process only adds lock waits; several processes are what PostgreSQL is
for.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from ..settings import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; serving is not refused there
    fcntl = None  # type: ignore[assignment]

_held: dict[str, tuple[int, int]] = {}  # lock path -> (file descriptor, holders in this process)
_guard = threading.Lock()


def lock_path(database_url: str) -> Path | None:
    """The lock file of a SQLite database URL (None: not a SQLite file)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve().with_name(Path(url.database).name + ".serve.lock")


class SqliteServeLock:
    """This process's hold on a SQLite database; :meth:`release` when the app stops."""

    def __init__(self, database_url: str) -> None:
        self.path = lock_path(database_url)
        self._acquired = False

    def acquire(self) -> None:
        """Take the hold (no-op for PostgreSQL).

        Raises:
            ConfigError: another process serves this database.
        """
        if self.path is None or fcntl is None:
            return
        key = str(self.path)
        with _guard:
            held = _held.get(key)
            if held is not None:
                _held[key] = (held[0], held[1] + 1)
                self._acquired = True
                return
            fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = _read_pid(fd)
                os.close(fd)
                database = self.path.name.removesuffix(".serve.lock")
                raise ConfigError(
                    f"Another process{f' (pid {other})' if other else ''} is serving the SQLite database "
                    f"{database}: SQLite supports one serving process. Stop it, or use PostgreSQL "
                    "(PLATI_DATABASE_URL=postgresql://...) to run several processes; see docs/deployment.md."
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            _held[key] = (fd, 1)
            self._acquired = True

    def release(self) -> None:
        if not self._acquired or self.path is None:
            return
        self._acquired = False
        key = str(self.path)
        with _guard:
            fd, holders = _held[key]
            if holders > 1:
                _held[key] = (fd, holders - 1)
                return
            del _held[key]
            os.close(fd)  # drops the flock


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


__all__ = ["SqliteServeLock", "lock_path"]
