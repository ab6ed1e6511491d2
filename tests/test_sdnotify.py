"""sd_notify over a real unix datagram socket, as systemd would receive it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from loadbalancer.sdnotify import Notifier


def test_messages_arrive_on_the_notify_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(2)
    notifier = Notifier(
        {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}
    )
    assert notifier.enabled and notifier.watchdog_interval_s == 10.0
    assert notifier.ready("meter ok, 1 charger")
    assert notifier.watchdog()
    assert notifier.stopping("safe current set")
    got = [server.recv(4096).decode() for _ in range(3)]
    assert got == [
        "READY=1\nSTATUS=meter ok, 1 charger",
        "WATCHDOG=1",
        "STOPPING=1\nSTATUS=safe current set",
    ]
    notifier.close()
    server.close()


def test_abstract_socket_address() -> None:
    name = f"lb-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0" + name)
    server.settimeout(2)
    notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
    assert notifier.watchdog()
    assert server.recv(100) == b"WATCHDOG=1"
    server.close()


def test_without_systemd_nothing_is_sent_and_nothing_fails() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog_interval_s is None
    assert not notifier.ready("x") and not notifier.watchdog()


def test_a_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.watchdog() is False


def test_watchdog_for_another_pid_is_ignored() -> None:
    notifier = Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert notifier.watchdog_interval_s is None
