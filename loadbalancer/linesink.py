"""The file half of the decision log: whole lines to a path, followed through log rotation.

Each line is handed to the kernel in a single ``write()`` on an ``O_APPEND`` descriptor, so a
crash leaves at most a torn last line and two writers never interleave inside a line. Before
each write the path is checked against the open file, so logrotate's rename-and-create works
without a signal (``copytruncate`` works too, thanks to ``O_APPEND``).
"""

from __future__ import annotations

import contextlib
import os
import sys


class LineSink:
    """Writes whole lines to a path (reopened when rotated) or to a file descriptor."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        if path == "-":
            self._fd = sys.stdout.fileno()

    def _open(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        stat = os.fstat(fd)
        self._fd, self._identity = fd, (stat.st_dev, stat.st_ino)
        if stat.st_size:
            # A crash may have left a torn last line: start ours on a line of its own.
            with open(self.path, "rb") as existing:
                existing.seek(-1, os.SEEK_END)
                if existing.read(1) != b"\n":
                    os.write(fd, b"\n")

    def _rotated(self) -> bool:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return True
        return (stat.st_dev, stat.st_ino) != self._identity

    def reopen(self) -> None:
        """Close the file: the next line opens the path again (SIGHUP, a failed write)."""
        self.close()

    def write_line(self, line: str) -> None:
        """Write one line; OSError when it cannot (the file is then opened again next time)."""
        if self.path != "-" and (self._fd is None or self._rotated()):
            self.close()
            self._open()
        assert self._fd is not None
        data = (line + "\n").encode()
        written = os.write(self._fd, data)
        while written < len(data):  # only on a full disk or a pipe; finish the line
            written += os.write(self._fd, data[written:])

    def close(self) -> None:
        if self._fd is not None and self.path != "-":
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    # structlog calls the method named like the log call on the wrapped logger
    def msg(self, message: str) -> None:
        self.write_line(message)

    info = warning = error = msg
