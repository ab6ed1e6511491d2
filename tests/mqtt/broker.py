"""A real MQTT broker for the tests, as a process of its own on a free port of 127.0.0.1 with
a temporary configuration: Mosquitto (Debian's package; .ci/run installs it) where installed,
else amqtt (a Python broker from the test extras, tests/mqtt/python_broker.py);
``LB_TEST_BROKER=mosquitto|python`` names one. Also a TCP proxy in front of a broker that can
stall, and a client that listens as Home Assistant does.

Without Mosquitto under CI (``CI=true``) the tests fail (CI installs it) unless
``LB_TEST_BROKER=python``; without any broker elsewhere they are skipped with one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import importlib.util
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomqtt
import pytest

from tests.service.harness import free_port

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if os.path.exists(p)), None
)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
_CLIENT_IDS = itertools.count()
REPO = Path(__file__).resolve().parents[2]


#: the broker kinds the tests run against (``LB_TEST_BROKER`` names one)
BROKER_KINDS = ("mosquitto", "python")


def default_kind() -> str:
    """Mosquitto where installed (and under CI, which installs it), else the Python broker."""
    if MOSQUITTO is not None or os.environ.get("CI") == "true":
        return "mosquitto"
    return "python"


def broker_kind() -> str:
    """``LB_TEST_BROKER`` when set, else :func:`default_kind`."""
    forced = os.environ.get("LB_TEST_BROKER", "")
    if forced and forced not in BROKER_KINDS:
        pytest.fail(f"LB_TEST_BROKER={forced!r}: one of {', '.join(BROKER_KINDS)}")
    return forced or default_kind()


def need_mosquitto() -> str:
    if MOSQUITTO is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "mosquitto is missing under CI: .ci/run installs it (apt-get); "
                "LB_TEST_BROKER=python runs the Python broker"
            )
        pytest.skip("no Mosquitto: apt-get install mosquitto (or LB_TEST_BROKER=python)")
    return MOSQUITTO


def need_amqtt() -> None:
    if importlib.util.find_spec("amqtt") is None:
        pytest.skip(
            "no Python MQTT broker: pip install -e '.[test]' (amqtt), or apt-get install mosquitto"
        )


class Broker:
    """One broker process on ``port`` of 127.0.0.1: ``stop()`` kills it, ``start()`` runs it
    again on the same port (retained messages are not kept across: persistence is off),
    ``pause()``/``resume()`` stop and continue it (SIGSTOP: its sockets stay open, unread)."""

    kind = ""

    def __init__(self, tmp: Path, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    async def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - started, not waited for
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    err = self.proc.stderr.read() if self.proc.stderr else b""
                    raise RuntimeError(f"{self.kind} did not start: {err!r}") from None
                await asyncio.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)


class Mosquitto(Broker):
    """Debian's Mosquitto with a temporary configuration."""

    kind = "mosquitto"

    def __init__(
        self,
        tmp: Path,
        *,
        users: dict[str, str] | None = None,
        port: int | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        """``tls``: the server's certificate and key files (then it speaks only TLS)."""
        super().__init__(tmp, port=port)
        self.binary = need_mosquitto()
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            # started as root it would switch to the mosquitto user, who cannot read the
            # temporary password file: it stays who started it
            f"user {getpass.getuser()}",
        ]
        if tls is not None:
            lines += [f"certfile {tls[0]}", f"keyfile {tls[1]}"]
        if users:
            assert MOSQUITTO_PASSWD is not None
            passwd = tmp / "mosquitto.passwd"
            passwd.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run(
                    [MOSQUITTO_PASSWD, "-b", str(passwd), user, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        self.conf = tmp / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [self.binary, "-c", str(self.conf)]


class PythonBroker(Broker):
    """amqtt (the test extras) run by tests/mqtt/python_broker.py as a process of its own."""

    kind = "python"

    def __init__(
        self,
        tmp: Path,
        *,
        users: dict[str, str] | None = None,
        port: int | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        super().__init__(tmp, port=port)
        need_amqtt()
        listener: dict[str, object] = {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}
        if tls is not None:
            listener.update(ssl=True, certfile=str(tls[0]), keyfile=str(tls[1]))
        auth = "amqtt.plugins.authentication."
        plugins: dict[str, object] = {f"{auth}AnonymousAuthPlugin": {"allow_anonymous": not users}}
        if users:
            from pwdlib.hashers.argon2 import Argon2Hasher

            # amqtt verifies with the hash's own cost: its default (64 MiB, 3 passes) takes
            # most of a second on a busy machine, longer than the tests' connect timeout
            hasher = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)
            passwd = tmp / "amqtt.passwd"
            passwd.touch(mode=0o600)
            passwd.write_text("".join(f"{u}:{hasher.hash(p)}\n" for u, p in users.items()))
            plugins[f"{auth}FileAuthPlugin"] = {"password_file": str(passwd)}
        self.conf = tmp / "amqtt.json"
        self.conf.write_text(json.dumps({"listeners": {"default": listener}, "plugins": plugins}))

    def command(self) -> list[str]:
        return [sys.executable, "-m", "tests.mqtt.python_broker", str(self.conf)]


def make_broker(
    tmp: Path,
    *,
    users: dict[str, str] | None = None,
    port: int | None = None,
    tls: tuple[Path, Path] | None = None,
    kind: str | None = None,
) -> Broker:
    """The broker of ``kind`` (default: :func:`broker_kind`), not started."""
    if (kind or broker_kind()) == "mosquitto":
        return Mosquitto(tmp, users=users, port=port, tls=tls)
    return PythonBroker(tmp, users=users, port=port, tls=tls)


@contextlib.asynccontextmanager
async def mqtt_broker(
    tmp: Path,
    *,
    users: dict[str, str] | None = None,
    port: int | None = None,
    tls: tuple[Path, Path] | None = None,
) -> AsyncIterator[Broker]:
    """A started broker of the kind the tests run against (:func:`broker_kind`)."""
    broker = make_broker(tmp, users=users, port=port, tls=tls)
    await broker.start()
    try:
        yield broker
    finally:
        broker.stop()


class StallingProxy:
    """A TCP proxy on 127.0.0.1 in front of ``port``: ``stall()`` makes it stop passing bytes
    either way (a broker that hangs, the connection still open), ``go_on()`` lets them pass."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.port = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: the service's side of each connection
        self._inbound: list[asyncio.ReadTransport] = []
        self.connections = 0

    async def __aenter__(self) -> StallingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def stall(self) -> None:
        """Nothing passes, and nothing more is read from the service: what it writes stays
        in its socket, as with a broker that hangs."""
        self.flowing.clear()
        for transport in self._inbound:
            transport.pause_reading()

    def go_on(self) -> None:
        self.flowing.set()
        for transport in self._inbound:
            if not transport.is_closing():
                transport.resume_reading()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        transport = writer.transport
        assert isinstance(transport, asyncio.ReadTransport)
        self._inbound.append(transport)
        if not self.flowing.is_set():
            transport.pause_reading()
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self.flowing.wait()
                data = await source.read(65536)
                if not data:
                    break
                await self.flowing.wait()  # bytes read before a stall are held, not passed
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()


class HomeAssistant:
    """A client that listens as Home Assistant does: every retained and live message under
    the discovery prefix and the site's base topic, the latest per topic and a count."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.latest: dict[str, bytes] = {}
        self.retained: dict[str, bool] = {}
        self.count: dict[str, int] = {}
        self.changed = asyncio.Event()

    async def listen(self) -> None:
        async for message in self.client.messages:
            payload = message.payload
            topic = message.topic.value
            self.latest[topic] = payload if isinstance(payload, bytes) else str(payload).encode()
            self.retained[topic] = message.retain
            self.count[topic] = self.count.get(topic, 0) + 1
            self.changed.set()

    def text(self, topic: str) -> str | None:
        payload = self.latest.get(topic)
        return None if payload is None else payload.decode()

    async def until(self, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    async def publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        await self.client.publish(topic, payload.encode(), qos=1, retain=retain)


@contextlib.asynccontextmanager
async def home_assistant(
    port: int, topics: tuple[str, ...] = ("homeassistant/#", "loadbalancer/#")
) -> AsyncIterator[HomeAssistant]:
    # each its own client id: a second client with the same id would push the first out
    identifier = f"ha-{os.getpid()}-{next(_CLIENT_IDS)}"
    async with aiomqtt.Client("127.0.0.1", port, identifier=identifier) as client:
        ha = HomeAssistant(client)
        for topic in topics:
            await client.subscribe(topic)
        listener = asyncio.create_task(ha.listen())
        try:
            yield ha
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await listener
