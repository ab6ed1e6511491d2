"""The ``loadbalancer`` command line: argument parsing only.

Each subcommand hands its parsed arguments to one function elsewhere and returns its exit code
(0 success, 1 runtime failure, 2 bad usage or invalid configuration). Errors print one
line on stderr, never a traceback. Modules are imported inside the handlers so that a quick
command (``meter``) does not pay for the imports of another (pymodbus, structlog).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from loadbalancer import __version__
from loadbalancer.errors import LoadBalancerError, UsageError

PROG = "loadbalancer"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _meter(args: argparse.Namespace) -> int:
    from loadbalancer.meter.monitor import run_meter

    return run_meter(args.source, as_json=args.json, protocol=args.protocol, key=args.key)


def _charger(args: argparse.Namespace) -> int:
    from loadbalancer.chargers.probe import run_probe

    return run_probe(
        args.profile,
        args.host,
        port=args.port,
        unit_id=args.unit,
        as_json=args.json,
        set_current_a=args.set_current,
    )


def _run(args: argparse.Namespace) -> int:
    from loadbalancer.config import load_site
    from loadbalancer.logcheck import check_decision_log
    from loadbalancer.service import run_service

    site = check_decision_log(load_site(args.config), starting=True)
    for warning in site.warnings:
        print(f"{PROG} run: warning: {warning}", file=sys.stderr)
    return run_service(site, shadow=args.shadow)


def _check(args: argparse.Namespace) -> int:
    from loadbalancer.config import load_site
    from loadbalancer.logcheck import check_decision_log

    print(check_decision_log(load_site(args.config), starting=False).summary())
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from loadbalancer.sim.command import run_simulate

    if args.replay:
        from loadbalancer.sim.replay_text import run_replay_command

        return run_replay_command(args.replay, args.config, as_json=args.json)
    return run_simulate(
        config=args.config,
        scenario=args.scenario,
        speed=args.speed,
        as_json=args.json,
        log=args.log,
    )


def _log(args: argparse.Namespace) -> int:
    from loadbalancer.review.command import LogRequest, run_log

    request = LogRequest(
        files=args.files,
        since=args.since,
        until=args.until,
        charger=args.charger,
        explain=args.explain,
        plot=args.plot,
        as_json=args.json,
    )
    return run_log(request, prog=f"{PROG} log")


def _tariff(args: argparse.Namespace) -> int:
    from loadbalancer.review.tariff_command import TariffRequest, run_tariff

    request = TariffRequest(
        args.files, args.profile, args.budget_kw, args.margin_kw, args.month, args.json
    )
    return run_tariff(request, prog=f"{PROG} tariff")


def _ocpp_probe(args: argparse.Namespace) -> int:
    from loadbalancer.ocpp.site import MISSING_EXTRA, libraries_installed

    if not libraries_installed():
        raise UsageError(MISSING_EXTRA)
    from loadbalancer.ocpp.probe import run_ocpp_probe

    return run_ocpp_probe(
        args.listen,
        profile=args.profile,
        password_file=args.password_file,
        timeout_s=args.timeout,
        as_json=args.json,
    )


def _add_ocpp_probe(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "ocpp-probe",
        help="wait for an OCPP 1.6J charge point and print what it is (the ocpp extra)",
        description="Listen, wait for one OCPP charge point (any id), print its "
        "BootNotification, configuration keys and the measurands it takes, and what the "
        "profile would set. Writes no charging profile.",
    )
    parser.add_argument("--listen", required=True, metavar="HOST:PORT")
    parser.add_argument("--profile", default="generic-ocpp", help="an OCPP profile name or path")
    parser.add_argument("--password-file", metavar="FILE", help="the box's Basic auth password")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="S")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=_ocpp_probe)


def _add_meter(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "meter",
        help="read the meter and print one reading per valid telegram",
        description="Read telegrams from a meter "
        "source and print one reading per valid telegram; each "
        "rejected telegram gives one line on stderr.",
    )
    parser.add_argument(
        "--source",
        required=True,
        metavar="URL",
        help="serial://DEV[?baudrate=115200&parity=N&bytesize=8&stopbits=1], "
        "tcp://HOST:PORT or file://PATH; any of them may add ?crc=optional (accept DSMR 2.2/3 "
        "telegrams without CRC), key=HEX (the meter's AES key), auth_key=HEX or "
        "kamstrup_energy_wh=10 "
        "(Norwegian Kamstrup HDLC) or kamstrup_current_ma=1 (Kamstrup behind current "
        "transformers)",
    )
    parser.add_argument(
        "--protocol",
        choices=("auto", "p1", "dlms"),
        default="auto",
        help="p1: P1 text (SE, NL, BE, LU); dlms: DLMS/HDLC frames (Aidon, Kaifa, Kamstrup; "
        "serial default 2400 8E1); auto (default): either, told apart by their first bytes",
    )
    parser.add_argument(
        "--key",
        metavar="HEX",
        help="the meter's AES-128 key, 32 hex digits (Luxembourg Smarty, encrypted HDLC)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per reading instead of a table",
    )
    parser.set_defaults(handler=_meter)


def _add_charger(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "charger",
        help="probe one charger with a profile; optionally write a current limit",
        description="Read one charger's status, per-phase currents, applied limit and failsafe "
        "settings over Modbus TCP with a charger profile; optionally write a current limit "
        "first (rounded down to the box's step; below its minimum = pause).",
    )
    parser.add_argument(
        "--profile",
        required=True,
        metavar="NAME",
        help="a bundled profile (e.g. alfen-eve, vestel-evc04) or a path to a profile file",
    )
    parser.add_argument("--host", required=True, metavar="H", help="the charger's address")
    parser.add_argument("--port", type=int, metavar="N", help="TCP port (default: the profile's)")
    parser.add_argument(
        "--unit", type=int, metavar="N", help="Modbus unit id (default: the profile's)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    parser.add_argument(
        "--set-current",
        type=float,
        metavar="A",
        help="write this current limit in amperes (0 pauses) before reading",
    )
    parser.set_defaults(handler=_charger)


def _add_run(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "run",
        help="the service: read the meter, decide, set the chargers' limits",
        description="Run the service until SIGTERM or SIGINT: read the meter, decide every "
        "charger's limit, write it, log every decision. On meter loss every charger gets "
        "safe_current_a; on stop too.",
    )
    parser.add_argument("--config", required=True, metavar="SITE.yaml", help="the site file")
    parser.add_argument(
        "--shadow",
        action="store_true",
        help="read everything, decide and log exactly as usual, never write to a charger",
    )
    parser.set_defaults(handler=_run)


def _add_check(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "check",
        help="validate a site file offline and summarise it",
        description="Validate the site file (syntax, types, ranges and the physics of ratings, "
        "phases and safe currents) with its fuse and charger profiles, without touching the "
        "network; print a summary.",
    )
    parser.add_argument("--config", required=True, metavar="SITE.yaml", help="the site file")
    parser.set_defaults(handler=_check)


def _add_simulate(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "simulate",
        help="closed-loop simulation: the real service against emulated meter and chargers",
        description="Run the real service in simulated time against a simulated meter (TCP) "
        "and simulated chargers (Modbus TCP) on loopback, through a scenario of household "
        "loads, cars and faults; print the quality figures (overload seconds, energy, pauses for "
        "spikes) beside a static limiter, the peers' max-phase controller and an upper bound on "
        "the energy.",
    )
    parser.add_argument(
        "--config",
        metavar="SITE.yaml",
        help="the site file (default: the bundled examples/site.yaml)",
    )
    parser.add_argument(
        "--scenario",
        default="winter-evening",
        metavar="NAME|FILE",
        help="a bundled scenario or a scenario file (default: winter-evening)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        metavar="X",
        help="tie simulated time to the wall clock, X times faster (default: virtual time, "
        "as fast as the work allows, whatever the machine's load)",
    )
    parser.add_argument(
        "--log",
        metavar="FILE",
        default="out/simulate-decisions.jsonl",
        help="where the decision log goes (default: %(default)s)",
    )
    parser.add_argument(
        "--replay",
        nargs="+",
        metavar="LOG",
        help="instead of a scenario: run the period of these decision logs (plain, rotated or "
        ".gz) again through the core with the logged site and, with --config, a candidate site",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the figures as one JSON object (last line)"
    )
    parser.set_defaults(handler=_simulate)


def _add_log(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "log",
        help="review a decision log: summary, why a limit was what it was, plot",
        description="Review decision logs (plain, rotated .1 or gzip .gz files, in any order): "
        "a summary of the period (time at each limit, cuts, pauses, energy, meter fallbacks, "
        "overload seconds, outages, alarms), or --explain a moment, or --plot it. Times are "
        "ISO 8601 or HH:MM[:SS] on the log's last day, in the log's UTC offset.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="decision log files")
    parser.add_argument("--since", metavar="T", help="start of the period reviewed")
    parser.add_argument("--until", metavar="T", help="end of the period reviewed")
    parser.add_argument("--charger", metavar="NAME", help="only this charger")
    parser.add_argument(
        "--explain", metavar="T", help="tell in words why the limits were what they were at T"
    )
    parser.add_argument(
        "--plot",
        metavar="OUT.png",
        help="draw per-phase current, fuse line and charger limits (needs loadbalancer[plot])",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    parser.set_defaults(handler=_log)


def _add_tariff(commands: argparse._SubParsersAction[_Parser]) -> None:
    parser = commands.add_parser(
        "tariff",
        help="estimate a month's capacity-tariff bill from a decision log, with and without "
        "the limiter",
        description="From decision logs, estimate a month's billed peak under a capacity tariff "
        "profile: as it would be without the limiter and with it at --budget-kw (a model of the "
        "limiter run on the log's house load), with the billed intervals and the cars' energy.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="decision log files")
    parser.add_argument(
        "--profile", required=True, metavar="NAME", help="a bundled tariff profile or a file"
    )
    parser.add_argument(
        "--budget-kw", required=True, type=float, metavar="KW", help="the limiter's budget"
    )
    parser.add_argument(
        "--margin-kw", type=float, default=0.2, metavar="KW", help="kept free (default 0.2)"
    )
    parser.add_argument(
        "--month", metavar="YYYY-MM", help="the month (default: the log's last with meter data)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    parser.set_defaults(handler=_tariff)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; each one's arguments are added by its ``_add_*``."""
    parser = _Parser(
        prog=PROG, description="Keeps the main fuse whole while EVs charge as fast as it allows."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    adders = (_add_meter, _add_charger, _add_run, _add_check, _add_simulate, _add_log)
    for add in (*adders, _add_tariff, _add_ocpp_probe):
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except LoadBalancerError as exc:
        from loadbalancer.printable import printable

        # one line, whatever a file's keys or a meter's bytes put in the message
        print(f"{PROG} {args.command}: {printable(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader (head, less) went away: nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
