"""One error hierarchy for the whole package.

Every error a user can cause or meet carries a one-line message that names what and where;
the command line prints ``str(error)`` and never a traceback.
"""

from __future__ import annotations


class LoadBalancerError(Exception):
    """Root of every error this package raises on purpose."""

    #: process exit code when this error ends a command (1 runtime, 2 usage/config)
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


class DecodeError(MeterError):
    """One frame or telegram could not be decoded; the parser turns it into a rejection."""


class ChargerError(LoadBalancerError):
    """Talking to a charger failed."""


#: Meanings of the Modbus exception codes (Modbus Application Protocol V1.1b3, §7).
MODBUS_EXCEPTION_MEANINGS: dict[int, str] = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class ChargerUnreachable(ChargerError):
    """No TCP connection: refused, unreachable, closed by the charger, or in reconnect back-off."""

    def __init__(self, endpoint: str, reason: str, hint: str = "") -> None:
        self.endpoint = endpoint
        self.reason = reason
        self.hint = hint
        tail = f"; {hint}" if hint else ""
        super().__init__(f"charger {endpoint}: {reason}{tail}")


class ChargerTimeout(ChargerError, TimeoutError):
    """The charger did not answer in time (connect or request)."""

    def __init__(self, endpoint: str, what: str, timeout_s: float) -> None:
        self.endpoint = endpoint
        self.what = what
        self.timeout_s = timeout_s
        super().__init__(f"charger {endpoint}: no answer to {what} within {timeout_s:g} s")


class ChargerExceptionReply(ChargerError):
    """The charger answered a request with a Modbus exception."""

    def __init__(self, endpoint: str, register: str, exception_code: int, hint: str = "") -> None:
        self.endpoint = endpoint
        self.register = register
        self.exception_code = exception_code
        self.meaning = MODBUS_EXCEPTION_MEANINGS.get(exception_code, "unknown exception")
        self.hint = hint
        tail = f"; {hint}" if hint else ""
        super().__init__(
            f"charger {endpoint}: {register}: Modbus exception {exception_code} "
            f"({self.meaning}){tail}"
        )


class ChargerWrongAnswer(ChargerError):
    """The charger answered, but for another request: a wrong transaction or unit id."""

    def __init__(self, endpoint: str, what: str, field: str, expected: int, got: int) -> None:
        self.endpoint = endpoint
        self.field = field
        self.expected = expected
        self.got = got
        super().__init__(
            f"charger {endpoint}: {what}: answered with {field} id {got} to a request with "
            f"{field} id {expected} (another master on the box, or a gateway mixing answers)"
        )


class ChargerBadValue(ChargerError):
    """A value cannot be written to (or was not understood from) a charger register."""


class ChargerUnsupported(ChargerError):
    """The charger's profile cannot do what was asked (pause, set its failsafe, ...)."""


class StateFileError(LoadBalancerError):
    """A state file (the tariff month's peaks) cannot be read back: corrupt, or of another
    format. The message names the file and what is wrong in one line."""

    def __init__(self, file: str, problem: str) -> None:
        self.file = file
        self.problem = problem
        super().__init__(f"{file}: {problem}")
