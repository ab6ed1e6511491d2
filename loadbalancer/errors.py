"""One error hierarchy for the whole package.

Every error a user can cause or meet carries a one-line message that names what and where;
the command line prints ``str(error)`` and never a traceback.
"""

from __future__ import annotations


class LoadBalancerError(Exception):
    """Root of every error this package raises on purpose."""

    #: process exit code when this error ends a command (SPEC §3: 1 runtime, 2 usage/config)
    exit_code: int = 1


class UsageError(LoadBalancerError):
    """A command was called with arguments that cannot work (bad URL, missing file)."""

    exit_code = 2


class ConfigError(LoadBalancerError):
    """A configuration or profile file is invalid; the message names the file and key path."""

    exit_code = 2

    def __init__(self, file: str, key_path: str, problem: str) -> None:
        self.file = file
        self.key_path = key_path
        self.problem = problem
        where = f"{file}: {key_path}" if key_path else file
        super().__init__(f"{where}: {problem}")


class MeterError(LoadBalancerError):
    """Reading the meter failed (the source, not a single telegram)."""


class SourceError(MeterError):
    """A meter source could not be opened or read."""


class ChargerError(LoadBalancerError):
    """Talking to a charger failed."""
