"""The site file -> one frozen, validated :class:`SiteConfig`.

Every problem is a :class:`ConfigError` naming the file, the key path and what is wrong;
``check`` prints it and ``run`` refuses to start on it. Problems that should not stop the
service (a failsafe the box cannot keep, a fuse margin of 0) are returned as warnings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from loadbalancer.chargers.profile import ChargerProfile, load_profile
from loadbalancer.control.config import GRANULARITIES_A, ChargerSpec, ControlConfig, control_default
from loadbalancer.control.fuse import FuseProfile
from loadbalancer.electric import IEC_MIN_CURRENT_A
from loadbalancer.electric import PHASES as GRID_PHASES
from loadbalancer.errors import ConfigError, UsageError
from loadbalancer.fuse_profiles import fuse_profile_from_mapping, load_fuse_profile
from loadbalancer.granularity import granularity as _granularity
from loadbalancer.granularity import multiple_of as _multiple_of
from loadbalancer.http.settings import HttpConfig, read_site_http
from loadbalancer.meter.gcm import parse_key
from loadbalancer.meter.options import ParserOptions
from loadbalancer.meter.parsers import PROTOCOLS
from loadbalancer.meter.sources import SourceSpec, parse_source_url, redact_key
from loadbalancer.mqtt.settings import MqttConfig, read_site_mqtt
from loadbalancer.ocpp import site as ocpp_site
from loadbalancer.phase_site import PHASE_SWITCH_KEYS, phase_switch_lines, with_phase_switching
from loadbalancer.tariff.settings import TariffConfig, read_site_tariff
from loadbalancer.yamlcheck import YamlReader, read_yaml_file

T = TypeVar("T")

#: the charger falls back to its safe current after this long without us
#: (docs/control.md §The charger's own watchdog)
DEFAULT_FAILSAFE_TIMEOUT_S = 60.0

_TOP = {"meter", "fuse", "chargers", "control", "log", "tariff", "http", "mqtt", "ocpp"}
_METER = {"source", "protocol", "key", "telegram_period_s", "stale_after_s"}
#: the keys of one ``chargers[]`` entry (a simulated scenario's extra chargers take the same)
CHARGER_KEYS = {
    "name",
    "profile",
    "host",
    "port",
    "unit_id",
    "phases",
    "max_current_a",
    "priority",
    "min_current_a",
    "protocol",  # modbus (the default); ocpp: loadbalancer/ocpp/site.py reads the entry
    *PHASE_SWITCH_KEYS,  # issue 19: 1p/3p switching, loadbalancer/phase_site.py
}
_CONTROL = {
    "safe_current_a",
    "ramp_up_delay_s",
    "resume_delay_s",
    "resume_delay_max_s",
    "poll_interval_s",
    "failsafe_timeout_s",
    "response_time_s",
    "min_share_hold_s",  # share rotation (issue 20)
}


@dataclass(frozen=True, slots=True)
class MeterConfig:
    source: SourceSpec
    protocol: str
    telegram_period_s: float
    stale_after_s: float
    #: CRC rule, key (meter.key or key= in the URL), Kamstrup energy unit
    options: ParserOptions = field(default_factory=ParserOptions)


@dataclass(frozen=True, slots=True)
class ModbusChargerConfig:
    """One Modbus TCP wallbox: where it is, its profile, and what the control core knows of it."""

    name: str
    profile: ChargerProfile
    profile_ref: str  # as written in the site file
    host: str
    port: int
    unit_id: int
    spec: ChargerSpec

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port} unit {self.unit_id}"


#: one charger of the site: a Modbus TCP box or an OCPP charge point (:mod:`loadbalancer.ocpp`)
ChargerConfig = ModbusChargerConfig | ocpp_site.OcppChargerConfig


@dataclass(frozen=True, slots=True)
class SiteConfig:
    file: str
    meter: MeterConfig
    fuse: FuseProfile
    chargers: tuple[ChargerConfig, ...]
    control: ControlConfig
    poll_interval_s: float
    failsafe_timeout_s: float
    decisions_path: str
    warnings: tuple[str, ...] = ()
    tariff: TariffConfig | None = None  # issue 15: the capacity tariff's budget, if any
    http: HttpConfig | None = None  # issue 16: the status page, health and metrics, if any
    ocpp: ocpp_site.OcppSite | None = None  # issue 18: the OCPP central system, if needed
    mqtt: MqttConfig | None = None  # issue 17: MQTT and Home Assistant, if any

    def summary(self) -> str:
        """A few lines for ``check``: what the service will do with this file."""
        fuse = self.fuse
        lines = [
            f"{self.file}: valid",
            f"meter: {redact_key(self.meter.source.url)} ({self.meter.protocol}"
            f"{', with its key' if self.meter.options.key else ''}), a telegram every "
            f"{self.meter.telegram_period_s:g} s, stale after {self.meter.stale_after_s:g} s",
            f"fuse: {fuse.name}, {fuse.phases}x{fuse.rating_a:g} A {fuse.characteristic.value}, "
            f"margin {fuse.margin_a:g} A: chargers get at most {fuse.rating_a - fuse.margin_a:g} A "
            "minus the house on each phase",
        ]
        for charger in self.chargers:
            spec = charger.spec
            lines.append(
                f"charger {charger.name}: {charger.profile.name} at {charger.endpoint}, phases "
                f"{'/'.join(spec.phases)}, {spec.min_current_a:g}-{spec.max_current_a:g} A in "
                f"steps of {spec.granularity_a:g} A, priority {spec.priority}"
            )
        lines += phase_switch_lines(self.chargers)  # issue 19
        c = self.control
        lines.append(
            f"control: safe current {c.safe_current_a:g} A, raise after {c.ramp_up_delay_s:g} s "
            f"of headroom, resume after {c.resume_delay_s:g} s, chargers read every "
            f"{self.poll_interval_s:g} s, failsafe timeout {self.failsafe_timeout_s:g} s"
        )
        lines.append(f"decision log: {self.decisions_path}")
        parts = (self.tariff, self.http, self.mqtt, self.ocpp)
        lines += [p.summary() for p in parts if p is not None]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def load_site(path: str | Path) -> SiteConfig:
    """Read and validate a site file."""
    file = str(path)
    if not Path(file).exists():
        raise ConfigError(file, "", "no such file")
    return site_from_data(read_yaml_file(Path(file), "site file"), file, base=Path(file).parent)


def site_from_data(data: object, file: str, *, base: Path | None = None) -> SiteConfig:
    """Validate an already parsed site mapping (``file`` names it in errors)."""
    return _SiteReader(file, base or Path.cwd()).site(data)


class _SiteReader(YamlReader):
    def __init__(self, file: str, base: Path) -> None:
        super().__init__(file)
        self.base = base
        self.warnings: list[str] = []

    def setting(
        self,
        raw: dict[str, Any],
        section: str,
        name: str,
        low: float,
        high: float,
        *,
        core_name: str | None = None,
    ) -> float:
        """``section.name`` in [low, high]; absent: the core's own default (one definition)."""
        value = raw.get(name, control_default(core_name or name))
        return self.number(value, f"{section}.{name}", low, high)

    def site(self, data: object) -> SiteConfig:
        top = self.mapping(data, "", _TOP, {"meter", "fuse", "chargers"})
        meter = self.meter(top["meter"])
        fuse = self.fuse(top["fuse"])
        raw_control = self.mapping(top.get("control", {}), "control", _CONTROL)
        safe_a = self.setting(raw_control, "control", "safe_current_a", 0, 80)
        if 0 < safe_a < IEC_MIN_CURRENT_A:
            raise self.fail(
                "control.safe_current_a",
                f"{safe_a:g} A is below the {IEC_MIN_CURRENT_A:g} A minimum a charger can offer "
                "(use 0 to pause on meter loss, or at least 6)",
            )
        chargers = with_phase_switching(
            self, top["chargers"], self.chargers(top["chargers"], fuse, safe_a), fuse
        )
        log = self.mapping(top.get("log", {}), "log", {"decisions"})
        decisions = self.text(log.get("decisions", "-"), "log.decisions")
        control = self.control(raw_control, fuse, chargers, meter, safe_a)
        if fuse.margin_a == 0:
            self.warnings.append(
                f"fuse {fuse.name}: margin_a is 0, the chargers may take the fuse to its rating"
            )
        return SiteConfig(
            file=self.file,
            meter=meter,
            fuse=fuse,
            chargers=chargers,
            control=control,
            poll_interval_s=self.number(
                raw_control.get("poll_interval_s", 2), "control.poll_interval_s", 0.1, 60
            ),
            failsafe_timeout_s=self.number(
                raw_control.get("failsafe_timeout_s", DEFAULT_FAILSAFE_TIMEOUT_S),
                "control.failsafe_timeout_s",
                5,
                3600,
            ),
            decisions_path=decisions,
            tariff=read_site_tariff(self, top, self.referenced, fuse, chargers, self.warnings),
            http=read_site_http(self, top, self.base),
            ocpp=ocpp_site.read_site_ocpp(self, top, chargers),
            mqtt=read_site_mqtt(self, top, self.base, chargers, "tariff" in top, self.warnings),
            warnings=tuple(self.warnings),
        )

    def meter(self, value: object) -> MeterConfig:
        raw = self.mapping(value, "meter", _METER, {"source"})
        url = self.text(raw["source"], "meter.source")
        protocol = self.choice(raw.get("protocol", "auto"), "meter.protocol", PROTOCOLS, "protocol")
        try:
            source = parse_source_url(url, protocol=protocol)
            options = ParserOptions.from_query(source.options, f"source {redact_key(url)!r}")
        except UsageError as exc:
            raise self.fail("meter.source", str(exc)) from exc
        if "key" in raw:
            if options.key is not None:
                raise self.fail("meter.key", "the key is also in meter.source (key=): give it once")
            if isinstance(raw["key"], int | float):
                raise self.fail("meter.key", "write the key in quotes (YAML read it as a number)")
            text = self.text(raw["key"], "meter.key")
            try:
                options = replace(options, key=parse_key(text, "the key"))
            except ValueError as exc:
                raise self.fail("meter.key", str(exc)) from None
        period = self.number(raw.get("telegram_period_s", 10), "meter.telegram_period_s", 0.1, 300)
        stale = self.setting(raw, "meter", "stale_after_s", 0.2, 3600)
        if stale < 2 * period:
            raise self.fail(
                "meter.stale_after_s",
                f"{stale:g} s is shorter than two telegram periods ({2 * period:g} s): one late "
                "telegram would already drop every charger to its safe current",
            )
        return MeterConfig(source, protocol, period, stale, options)

    def fuse(self, value: object) -> FuseProfile:
        if isinstance(value, dict):
            return fuse_profile_from_mapping(value, source=f"{self.file}: fuse")
        return self.referenced(load_fuse_profile, self.text(value, "fuse"), "fuse")

    def chargers(
        self, value: object, fuse: FuseProfile, safe_a: float
    ) -> tuple[ChargerConfig, ...]:
        items = self.items(value, "chargers")
        if not items:
            raise self.fail("chargers", "at least one charger is needed")
        chargers = tuple(self.charger(item, f"chargers[{i}]", fuse) for i, item in enumerate(items))
        seen_names: dict[str, str] = {}
        seen_endpoints: dict[tuple[str, int, int], str] = {}
        for i, charger in enumerate(chargers):
            path = f"chargers[{i}]"
            if charger.name in seen_names:
                raise self.fail(
                    f"{path}.name", f"{charger.name!r} is also {seen_names[charger.name]}"
                )
            seen_names[charger.name] = path
            key = ocpp_site.endpoint_key(charger)
            if key in seen_endpoints:
                raise self.fail(
                    f"{path}.host",
                    f"{charger.endpoint} is also {seen_endpoints[key]}: two chargers at one "
                    "address",
                )
            seen_endpoints[key] = f"{path} ({charger.name})"
            if safe_a > 0 and safe_a > charger.spec.max_current_a:
                raise self.fail(
                    "control.safe_current_a",
                    f"{safe_a:g} A is above charger {charger.name}'s max_current_a "
                    f"({charger.spec.max_current_a:g} A)",
                )
        per_phase: dict[str, float] = defaultdict(float)
        for charger in chargers:
            for phase in charger.spec.phases:
                per_phase[phase] += safe_a
        limit = fuse.rating_a - fuse.margin_a
        for phase in GRID_PHASES:
            if per_phase[phase] > limit:
                raise self.fail(
                    "control.safe_current_a",
                    f"{safe_a:g} A for each charger makes {per_phase[phase]:g} A on {phase}, more "
                    f"than the fuse allows ({fuse.rating_a:g} A - {fuse.margin_a:g} A margin = "
                    f"{limit:g} A)",
                )
        return chargers

    def charger(self, value: object, path: str, fuse: FuseProfile) -> ChargerConfig:
        if ocpp_site.is_ocpp(value):
            return ocpp_site.read_ocpp_charger(self, value, path, fuse)
        raw = self.mapping(
            value, path, CHARGER_KEYS, {"name", "profile", "host", "phases", "max_current_a"}
        )
        name = self.label(raw["name"], f"{path}.name")
        profile_ref = self.text(raw["profile"], f"{path}.profile")
        profile = self.referenced(load_profile, profile_ref, f"{path}.profile")
        host = self.label(raw["host"], f"{path}.host")
        port = self.integer(raw.get("port", profile.transport.port), f"{path}.port", 1, 65535)
        unit_id = self.integer(
            raw.get("unit_id", profile.transport.unit_id), f"{path}.unit_id", 0, 255
        )
        phases = self.phases(raw["phases"], f"{path}.phases", fuse)
        max_a, min_a = self.current_range(raw, path, profile, fuse)
        priority = self.integer(raw.get("priority", 1), f"{path}.priority", -1000, 1000)
        granularity = self.step(min_a, path, profile)
        if profile.failsafe.trigger == "none":
            self.warnings.append(
                f"charger {name} ({profile.name}): the box has no failsafe the controller can "
                "set; if loadbalancer stops it keeps its last limit"
            )
        try:
            spec = ChargerSpec(
                name=name,
                phases=phases,
                max_current_a=max_a,
                min_current_a=min_a,
                priority=priority,
                granularity_a=granularity,
                box_max_current_a=profile.setpoint.max_a,
            )
        except ValueError as exc:  # what the core refuses and the checks above missed
            raise self.fail(path, str(exc)) from None
        return ModbusChargerConfig(name, profile, profile_ref, host, port, unit_id, spec)

    def current_range(
        self, raw: dict[str, Any], path: str, profile: ChargerProfile, fuse: FuseProfile
    ) -> tuple[float, float]:
        """A charger's ``max_current_a`` and ``min_current_a``, within its fuse and its box."""
        setpoint = profile.setpoint
        hw_max = setpoint.max_a
        max_a = self.number(raw["max_current_a"], f"{path}.max_current_a", 0, None)
        if max_a > fuse.rating_a:
            raise self.fail(
                f"{path}.max_current_a",
                f"{max_a:g} A is above the main fuse's rating ({fuse.rating_a:g} A)",
            )
        if max_a > hw_max:
            raise self.fail(
                f"{path}.max_current_a",
                f"{max_a:g} A is above what the {profile.name} profile takes ({hw_max:g} A)",
            )
        min_a = self.number(
            raw.get("min_current_a", max(IEC_MIN_CURRENT_A, setpoint.min_a)),
            f"{path}.min_current_a",
            IEC_MIN_CURRENT_A,
            80,
        )
        if min_a > max_a:
            raise self.fail(
                f"{path}.max_current_a",
                f"{max_a:g} A is below the charger's minimum ({min_a:g} A)",
            )
        return max_a, min_a

    def step(self, min_a: float, path: str, profile: ChargerProfile) -> float:
        """The controller's step for this box (its profile's), which ``min_a`` must be on."""
        setpoint = profile.setpoint
        granularity = _granularity(setpoint.granularity_a)
        if granularity is None:
            raise self.fail(
                f"{path}.profile",
                f"the {profile.name} profile's step of {setpoint.granularity_a:g} A is not one "
                f"the controller offers ({', '.join(f'{g:g}' for g in GRANULARITIES_A)} A)",
            )
        if not _multiple_of(min_a, granularity):
            raise self.fail(
                f"{path}.min_current_a",
                f"{min_a:g} A is not a multiple of the {profile.name} profile's step "
                f"({granularity:g} A)",
            )
        return granularity

    def referenced(self, load: Callable[[str], T], ref: str, path: str) -> T:
        """A profile named at ``path``: a file beside the site file, else a bundled name. A name
        that is neither is this key's error; an error inside the file names that file."""
        local = self.base / ref
        try:
            return load(str(local) if local.is_file() else ref)
        except ConfigError as exc:
            if exc.file == ref and not exc.key_path:  # no such name, or not a readable file
                named = exc.problem if repr(ref) in exc.problem else f"{ref}: {exc.problem}"
                raise self.fail(path, named) from exc
            raise

    def phases(self, value: object, path: str, fuse: FuseProfile) -> tuple[str, ...]:
        phases = self.texts(value, path)
        if not 1 <= len(phases) <= 3:
            raise self.fail(path, f"a charger has 1 to 3 phases, not {len(phases)}")
        for i, phase in enumerate(phases):
            if phase not in fuse.phase_names:
                raise self.fail(
                    f"{path}[{i}]",
                    f"{phase!r} is not a phase of the {fuse.phases}-phase fuse "
                    f"({', '.join(fuse.phase_names)})",
                )
        if len(set(phases)) != len(phases):
            raise self.fail(path, "a grid phase appears twice")
        return phases

    def control(
        self,
        raw: dict[str, Any],
        fuse: FuseProfile,
        chargers: tuple[ChargerConfig, ...],
        meter: MeterConfig,
        safe_a: float,
    ) -> ControlConfig:
        ramp = self.setting(raw, "control", "ramp_up_delay_s", 0, 3600)
        resume = self.setting(raw, "control", "resume_delay_s", 0, 7200)
        resume_max = self.number(
            raw.get("resume_delay_max_s", max(control_default("resume_delay_max_s"), resume)),
            "control.resume_delay_max_s",
            0,
            7200,
        )
        if resume_max < resume:
            raise self.fail("control.resume_delay_max_s", "must be >= control.resume_delay_s")
        specs = tuple(replace(c.spec, failsafe_current_a=safe_a) for c in chargers)
        poll = self.number(raw.get("poll_interval_s", 2), "control.poll_interval_s", 0.1, 60)
        response_s = self.setting(
            raw, "control", "response_time_s", 0.5, 120, core_name="ev_response_allowance_s"
        )
        try:
            return ControlConfig(
                fuse=fuse,
                chargers=specs,
                safe_current_a=safe_a,
                ramp_up_delay_s=ramp,
                resume_delay_s=resume,
                resume_delay_max_s=resume_max,
                stale_after_s=meter.stale_after_s,
                # a read older than five polls (or 10 s) counts as offline
                charger_stale_after_s=max(control_default("charger_stale_after_s"), 5 * poll),
                hold_horizon_s=meter.telegram_period_s,
                ev_response_allowance_s=response_s,
                min_share_hold_s=self.setting(raw, "control", "min_share_hold_s", 60, 86400),
            )
        except ValueError as exc:  # what the core refuses and the checks above missed
            raise self.fail("control", str(exc)) from None
