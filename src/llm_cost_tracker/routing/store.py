"""The routing file's writer: exclusive lock, temp file in the same directory, fsync, ``os.replace``.

Several writers (the receivers behind an HA pair of Alertmanagers, each sent
every alert) and any number of readers share the file: a reader sees the old
file or the new one, never a partial one, even if a writer is killed
mid-write; writers take turns under an ``flock`` on a lock file beside it,
and each change reads the current file first, so none is lost and
``generation`` only grows.
"""

from __future__ import annotations

import fcntl
import glob
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from llm_cost_tracker.clock import Clock, system_clock
from llm_cost_tracker.routing.document import RoutingDocument, RoutingFileError, iso_utc, parse


class RoutingStoreError(OSError):
    """The routing file could not be read or written (the change did not happen)."""


class RoutingStore:
    def __init__(self, path: str | os.PathLike[str], clock: Clock = system_clock) -> None:
        self.path = Path(path)
        self.clock = clock
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")

    def read(self) -> RoutingDocument:
        """The current document (empty when there is no file); raises ``RoutingFileError`` if corrupt."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return RoutingDocument()
        except (OSError, UnicodeDecodeError) as exc:
            raise RoutingFileError(f"cannot read {self.path}: {exc}") from None
        return parse(text)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def update(self, change: Callable[[RoutingDocument], RoutingDocument]) -> tuple[RoutingDocument, bool]:
        """Apply ``change`` to the current document under the lock; write it only if it changed.

        Returns the document now in the file and whether it was written. Raises
        ``RoutingStoreError`` (the file untouched) when it cannot be read or written.
        """
        try:
            with self._locked():
                try:
                    current = self.read()
                except RoutingFileError as exc:
                    raise RoutingStoreError(str(exc)) from None
                changed = change(current)
                if changed.overrides == current.overrides and changed.resolved == current.resolved:
                    return current, False
                new = RoutingDocument(
                    generation=current.generation + 1,
                    updated_at=iso_utc(self.clock()),
                    overrides=changed.overrides,
                    pins=current.pins,  # people's pins are theirs: kept as read
                    resolved=changed.resolved,
                )
                self._write(new.dump())
                return new, True
        except RoutingStoreError:
            raise
        except OSError as exc:
            raise RoutingStoreError(f"cannot write {self.path}: {exc}") from None

    def _write(self, text: str) -> None:
        """Write ``text`` atomically (caller holds the lock)."""
        directory = self.path.parent
        # A temp file there now is a killed writer's: every writer holds the lock while its own exists.
        for stale in directory.glob(f".{glob.escape(self.path.name)}.*.tmp"):
            stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)
