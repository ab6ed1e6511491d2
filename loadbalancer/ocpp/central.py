"""The OCPP 1.6J central system inside ``loadbalancer run``: a WebSocket server on the
service's event loop that the site's charge points connect to.

* Who may connect: the URL's last path segment is the charge point id; an id not in the site
  file gets HTTP 404, a wrong or missing Basic auth (user = the id, the password from the site's
  ``password_file``, compared in constant time) HTTP 401, both before the WebSocket opens and
  each logged (``ocpp_refused``). Security profile 1 is Basic over ``ws://``, 2 Basic over TLS.
* Frames above :data:`MAX_FRAME_BYTES` close the connection; the ``ocpp`` library validates every
  payload against the 1.6 schemas (a malformed one gets a CALLERROR, never reaches a handler).
* Nothing a charge point sends raises a limit: its values are only read (currents, status), the
  limits come from the control core alone.
* On every connection (a reconnect without BootNotification too) the meter values are
  configured and asked for, and the charger's link reads it at once: a dropped connection makes
  it offline (reserved at its failsafe), a new one re-asserts its limit and failsafe.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ssl
import urllib.parse
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TypeVar, cast

import ocpp.messages
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result, datatypes, enums
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeader
from websockets.headers import build_www_authenticate_basic, parse_authorization_basic
from websockets.http11 import Request, Response

from loadbalancer.config import SiteConfig
from loadbalancer.errors import ChargerError, UsageError
from loadbalancer.logwriter import DecisionLog
from loadbalancer.ocpp.charger import OcppCharger
from loadbalancer.ocpp.site import OCPP_REQUEST_TIMEOUT_S, OcppChargerConfig, OcppSite
from loadbalancer.printable import printable

Status = Callable[[str], None]

# a payload's schema check takes well under a millisecond: inline on the loop, not a hop to a
# thread and back for every frame (measured: benchmarks/ocpp_reaction.py)
ocpp.messages.ASYNC_VALIDATION = False

#: a frame larger than this closes the connection (a MeterValues with every measurand of three
#: connectors is a few kB)
MAX_FRAME_BYTES = 64 * 1024
#: the Heartbeat interval given in the BootNotification answer (WebSocket pings do the rest)
HEARTBEAT_S = 300
REALM = "loadbalancer OCPP"
#: the same refusal (id, peer, reason) is logged once in this long
REFUSAL_QUIET_S = 60.0


F = TypeVar("F", bound=Callable[..., Any])


def typed_on(action: str) -> Callable[[F], F]:
    """The library's ``@on`` (it has no type hints)."""
    return cast(Callable[[F], F], on(action))


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Session(ChargePoint):  # type: ignore[misc]  # the ocpp library has no type hints
    """One connected charge point: the library's receive loop and our handlers."""

    def __init__(
        self, cp_id: str, connection: ServerConnection, chargers: list[OcppCharger]
    ) -> None:
        super().__init__(cp_id, connection, response_timeout=chargers[0].request_timeout_s)
        #: the chargers on this box's connectors (each takes what is about its own)
        self.chargers = chargers
        self._transaction = 0

    async def call_payload(self, action: str, payload: dict[str, Any]) -> Any:
        """A CALL whose payload is OCPP JSON already (camelCase, unset fields left out), sent
        without the library's conversion from its types and without a schema check; its
        answer's payload as it came (untrusted: the caller checks it), a CALLERROR raised as
        the library's ``OCPPError``. One CALL at a time per connection, as ``call`` does; the
        caller bounds the wait (``OcppCharger`` does: its request timeout)."""
        message = ocpp.messages.Call(
            unique_id=str(self._unique_id_generator()), action=action, payload=payload
        )
        async with self._call_lock:
            await self._send(message.to_json())
            # straight from the queue, not through the library's ``asyncio.wait_for`` (a task
            # per call; before Python 3.12 it can swallow a cancel): answers to calls that
            # timed out before are dropped, as the library drops them
            answer = await self._response_queue.get()
            while answer.unique_id != message.unique_id:
                answer = await self._response_queue.get()
        if answer.message_type_id == ocpp.messages.MessageType.CallError:
            raise answer.to_exception()
        return answer.payload

    @typed_on(enums.Action.boot_notification)
    def on_boot(self, charge_point_vendor: str, charge_point_model: str, **extra: Any) -> Any:
        firmware = printable(str(extra.get("firmware_version") or "")) or None
        for charger in self.chargers:
            charger.boot = {
                "vendor": charge_point_vendor,
                "model": charge_point_model,
                "firmware": firmware,
            }
            if charger.log is not None:
                charger.log.record(
                    "ocpp_boot",
                    charger=charger.config.name,
                    vendor=printable(charge_point_vendor),
                    model=printable(charge_point_model),
                    firmware=firmware,
                )
        return call_result.BootNotification(
            current_time=_now(), interval=HEARTBEAT_S, status=enums.RegistrationStatus.accepted
        )

    @typed_on(enums.Action.heartbeat)
    def on_heartbeat(self) -> Any:
        return call_result.Heartbeat(current_time=_now())

    @typed_on(enums.Action.status_notification)
    def on_status(self, connector_id: int, status: str, **_: Any) -> Any:
        for charger in self.chargers:
            charger.on_status(connector_id, str(status))
        return call_result.StatusNotification()

    @typed_on(enums.Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list[Any], **_: Any) -> Any:
        # connector 0 is the whole box: one charger's values only where the box has one
        if connector_id != 0 or len(self.chargers) == 1:
            for charger in self.chargers:
                charger.on_meter_values(connector_id, meter_value)
        return call_result.MeterValues()

    # a home box starts its sessions by itself: every id tag is let through (this service
    # limits current; it does not decide who may charge)
    @typed_on(enums.Action.authorize)
    def on_authorize(self, id_tag: str) -> Any:
        return call_result.Authorize(id_tag_info=_accepted())

    @typed_on(enums.Action.start_transaction)
    def on_start(self, connector_id: int, id_tag: str, **_: Any) -> Any:
        self._transaction += 1
        return call_result.StartTransaction(
            transaction_id=self._transaction, id_tag_info=_accepted()
        )

    @typed_on(enums.Action.stop_transaction)
    def on_stop(self, **_: Any) -> Any:
        return call_result.StopTransaction()


def _accepted() -> datatypes.IdTagInfo:
    return datatypes.IdTagInfo(status=enums.AuthorizationStatus.accepted)


class CentralSystem:
    """The server and the site's OCPP chargers: by key (``CP001/1``) and by charge point id."""

    def __init__(
        self,
        site: OcppSite,
        chargers: Iterable[OcppCharger],
        *,
        log: DecisionLog | None = None,
        status: Status = lambda _m: None,
    ) -> None:
        self.site = site
        self.chargers = {charger.config.key: charger for charger in chargers}
        self.points: dict[str, list[OcppCharger]] = {}
        for charger in self.chargers.values():
            self.points.setdefault(charger.config.charge_point_id, []).append(charger)
        self.log = log
        self.status = status
        self.server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._refusals: dict[tuple[str, str, str], float] = {}

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(next(iter(self.server.sockets)).getsockname()[1])

    async def start(self) -> None:
        context = None
        if self.site.tls_cert_file and self.site.tls_key_file:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.site.tls_cert_file, self.site.tls_key_file)
        try:
            self.server = await serve(
                self._handle,
                self.site.host,
                self.site.port,
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                process_request=self._admit,
                max_size=MAX_FRAME_BYTES,
                # small frames on a local network: compressing them costs more than it saves
                compression=None,
                ssl=context,
            )
        except OSError as exc:
            where = f"{self.site.host}:{self.site.port}"
            raise UsageError(f"ocpp.listen {where}: cannot listen: {exc.strerror or exc}") from None

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self.server.wait_closed()
        for task in list(self._tasks):
            task.cancel()

    # ---- who may connect ------------------------------------------------------------------

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        cp_id = charge_point_id(request.path)
        if cp_id not in self.points:
            return self._refuse(connection, HTTPStatus.NOT_FOUND, cp_id, "unknown charge point id")
        if self.site.auth != "basic":
            return None
        assert self.site.password is not None
        try:
            user, password = parse_authorization_basic(request.headers.get("Authorization", ""))
        except InvalidHeader:
            user, password = "", ""
        good_user = hmac.compare_digest(user.encode(), cp_id.encode())
        good_password = hmac.compare_digest(password.encode(), self.site.password)
        if good_user and good_password:
            return None
        response = self._refuse(
            connection, HTTPStatus.UNAUTHORIZED, cp_id, "wrong or missing Basic auth"
        )
        response.headers["WWW-Authenticate"] = build_www_authenticate_basic(REALM)
        return response

    def _refuse(
        self, connection: ServerConnection, code: HTTPStatus, cp_id: str, reason: str
    ) -> Response:
        shown, peer = printable(cp_id[:48]), str(connection.remote_address[0])
        if self._first_refusal(shown, peer, reason):
            if self.log is not None:
                self.log.record("ocpp_refused", charge_point_id=shown, peer=peer, reason=reason)
            self.status(f"ocpp: refused {shown!r} from {peer}: {reason}")
        response = connection.respond(code, f"{reason}\n")
        assert isinstance(response.headers, Headers)
        return response

    def _first_refusal(self, cp_id: str, peer: str, reason: str) -> bool:
        """Whether this refusal is the first of its kind in :data:`REFUSAL_QUIET_S` (a box
        with a wrong password retries every few seconds; a peer could try thousands of ids)."""
        now = asyncio.get_running_loop().time()
        key = (cp_id, peer, reason)
        if now - self._refusals.get(key, -REFUSAL_QUIET_S) < REFUSAL_QUIET_S:
            return False
        if len(self._refusals) >= 1000:  # bounded: the oldest go
            for old in sorted(self._refusals, key=self._refusals.__getitem__)[:500]:
                del self._refusals[old]
        self._refusals[key] = now
        return True

    # ---- one connection -------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        cp_id = charge_point_id(connection.request.path)
        chargers = self.points[cp_id]
        old = chargers[0].session
        session = Session(cp_id, connection, chargers)
        for charger in chargers:
            charger.connected(session)
        if old is not None:  # a rebooted box comes back before its old connection times out
            await old._connection.close()
        names = [charger.config.name for charger in chargers]
        for name in names:
            if self.log is not None:
                self.log.record("ocpp_connected", charger=name, charge_point_id=cp_id)
        self.status(f"ocpp: {cp_id} ({', '.join(names)}) connected")
        setup = asyncio.create_task(self._setup(chargers))
        self._tasks.add(setup)
        setup.add_done_callback(self._tasks.discard)
        reason = "closed"
        try:
            await session.start()
        except Exception as exc:  # ConnectionClosed* and whatever the library raises
            reason = printable(str(exc)[:200]) or type(exc).__name__
        finally:
            setup.cancel()
            for charger in chargers:
                charger.disconnected(session)
                if self.log is not None:
                    self.log.record("ocpp_disconnected", charger=charger.config.name, reason=reason)
            self.status(f"ocpp: {cp_id} ({', '.join(names)}) disconnected: {reason}")

    async def _setup(self, chargers: list[OcppCharger]) -> None:
        """Meter values configured and asked for (on every connector), the profile's settings
        set and read. A call that fails is said once on the status line; the chargers go on
        with what they have."""
        charger = chargers[0]
        session = charger.session
        meter = charger.profile.meter
        settings = [("MeterValuesSampledData", ",".join(meter.measurands))]
        settings += list(charger.profile.boot_set)
        try:
            for key, value in settings:
                await charger.call(session, call.ChangeConfiguration(key=key, value=value))
            if charger.profile.boot_read:
                await charger.get_configuration(list(charger.profile.boot_read))
            for one in chargers:
                await charger.call(
                    session,
                    call.TriggerMessage(
                        requested_message=enums.MessageTrigger.meter_values,
                        connector_id=one.connector_id,
                    ),
                )
        except ChargerError as exc:
            self.status(f"ocpp: {charger.config.name}: setup: {exc}")


def charge_point_id(path: str) -> str:
    """The charge point id: the last segment of the URL's path, percent-decoded."""
    segment = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return urllib.parse.unquote(segment)


def central_for(
    site: SiteConfig,
    *,
    log: DecisionLog | None,
    status: Status,
    clock: Callable[[], float],
    request_timeout_s: float = OCPP_REQUEST_TIMEOUT_S,
) -> CentralSystem:
    """The central system for a site's OCPP chargers (``site.ocpp`` must be set)."""
    assert site.ocpp is not None
    chargers = [
        OcppCharger(c, clock=clock, log=log)
        for c in site.chargers
        if isinstance(c, OcppChargerConfig)
    ]
    for charger in chargers:
        charger.request_timeout_s = charger.connect_timeout_s = request_timeout_s
    return CentralSystem(site.ocpp, chargers, log=log, status=status)
