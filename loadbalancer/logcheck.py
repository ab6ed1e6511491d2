"""``log.decisions`` checked before ``run`` starts and by ``check``: can it be appended to?"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import replace

from loadbalancer.config import SiteConfig
from loadbalancer.errors import ConfigError


def check_decision_log(site: SiteConfig, *, starting: bool) -> SiteConfig:
    """Make sure ``log.decisions`` can be appended to (or created): a regular file that is a
    decision log (never ``/etc/passwd``), on a writable file system. A directory that does not
    exist yet is a warning for ``check`` (systemd's ``LogsDirectory=`` creates it at start)
    and an error for ``run`` (``starting``). Tries the real thing: an existing file is opened
    for appending (nothing written), a missing one created and removed again."""
    path = site.decisions_path
    if path == "-":
        return site
    directory = os.path.dirname(path) or "."
    try:
        _try_append(path)
    except FileNotFoundError:
        if os.path.isdir(directory) or starting:
            problem = f"cannot create {path}: directory {directory} does not exist"
            raise ConfigError(site.file, "log.decisions", problem) from None
        warning = f"log.decisions: {directory} does not exist yet: run creates no directories"
        return replace(site, warnings=(*site.warnings, warning))
    except (OSError, ValueError) as exc:
        why = f"cannot write there: {exc.strerror or exc}" if isinstance(exc, OSError) else exc
        raise ConfigError(site.file, "log.decisions", f"{path}: {why}") from None
    return site


def _try_append(path: str) -> None:
    flags = os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        info = os.stat(path)
    except FileNotFoundError:
        os.close(os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o640))
        os.unlink(path)
        return
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("not a regular file")
    os.close(os.open(path, flags))
    start = b""
    with contextlib.suppress(OSError), open(path, "rb") as existing:  # unreadable: no look
        start = existing.read(64).lstrip()
    if start and not start.startswith(b"{"):
        raise ValueError("holds something else than a decision log (JSON lines): not touched")
