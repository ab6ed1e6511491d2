"""The signal set-up of ``loadbalancer run``: which signals stop it safely (tested on a real
process in test_process.py) and which are left alone, and why."""

from __future__ import annotations

import signal

from loadbalancer.shutdown import signal_name, stop_signals


def test_every_signal_that_would_end_the_process_is_handled_or_left_on_purpose() -> None:
    handled = set(stop_signals()) | {signal.SIGHUP}
    # cannot be caught; the process's own faults; Python ignores SIGPIPE and SIGXFSZ (a write
    # fails with an OSError instead); default action ignore, stop or continue
    left = {
        signal.SIGKILL, signal.SIGSTOP,
        signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT,
        signal.SIGSYS, signal.SIGTRAP,
        signal.SIGPIPE, signal.SIGXFSZ,
        signal.SIGCHLD, signal.SIGCONT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU,
        signal.SIGURG, signal.SIGWINCH,
    }  # fmt: skip
    assert set(signal.valid_signals()) - left - handled == set()
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
    assert signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN
    assert signal_name(signal.SIGRTMIN + 3) == "SIGRTMIN+3"
