"""The `callcenter` command."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callcenter import timebase
from callcenter.config import ConfigError, Settings, load_settings
from callcenter.logs import configure_logging

if TYPE_CHECKING:
    from callcenter.pbx.simulator import PbxSimulator, SimConfig
    from callcenter.storage import EmbeddedValkey

log = logging.getLogger("callcenter")


def _settings(args: argparse.Namespace) -> Settings:
    try:
        return load_settings(args.config)
    except ConfigError as exc:
        print(f"configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(1) from exc


def _with_logging(args: argparse.Namespace) -> Settings:
    settings = _settings(args)
    configure_logging(settings.logging.level, settings.logging.format)
    return settings


def cmd_check_config(args: argparse.Namespace) -> int:
    path = args.file or args.config
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        print(f"{path or 'configuration'}: {len(exc.problems)} problem(s)")
        for problem in exc.problems:
            print(f"  {problem}")
        return 1
    print(f"configuration OK ({settings.source})")
    return 0


def _profiled(name: str, run: Callable[[], Any]) -> Any:
    """Run one process's body, under cProfile when CALLCENTER_PROFILE names a directory (`<name>.prof` there),
    tracing its allocations when CALLCENTER_TRACEMALLOC does (`<name>.tracemalloc`, what is still held at exit).

    Where each process's time and memory go under a simulated day's load (`simulate-day --profile/--memory`).
    Separate switches: tracing every allocation slows the process enough to spoil the time profile."""
    profile_dir = os.environ.get("CALLCENTER_PROFILE")
    memory_dir = os.environ.get("CALLCENTER_TRACEMALLOC")
    if not profile_dir and not memory_dir:
        return run()
    import cProfile
    import tracemalloc

    profiler = cProfile.Profile() if profile_dir else None
    if memory_dir:
        tracemalloc.start()
    if profiler:
        profiler.enable()
    try:
        return run()
    finally:
        if profiler and profile_dir:
            profiler.disable()
            Path(profile_dir).mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(str(Path(profile_dir) / f"{name}.prof"))
        if memory_dir:
            Path(memory_dir).mkdir(parents=True, exist_ok=True)
            tracemalloc.take_snapshot().dump(str(Path(memory_dir) / f"{name}.tracemalloc"))
            tracemalloc.stop()


def cmd_serve(args: argparse.Namespace) -> int:
    from callcenter.server import serve

    _profiled("server", lambda: asyncio.run(serve(_with_logging(args))))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from callcenter.worker import run_worker

    _profiled("worker", lambda: run_worker(_with_logging(args), burst=args.burst))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from callcenter.supervisor import Supervisor

    return Supervisor(_with_logging(args), args.config).run()


def cmd_embedded_redis(args: argparse.Namespace) -> int:
    """Run the embedded Valkey server until SIGTERM/SIGINT (used by `simulate-day`, which owns its lifetime;
    `run` starts and watches the server itself, see callcenter/supervisor.py)."""
    from callcenter.storage import EmbeddedValkey

    _with_logging(args)
    stop_requested: list[int] = []
    # A handler, not a blocked mask: a blocked signal mask is inherited by the valkey-server child and would
    # make it deaf to the SIGTERM that stop() sends it (handlers are reset at exec, masks are not).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, frame: stop_requested.append(number))
    server = EmbeddedValkey(args.data_dir, port=args.port)
    server.start()
    try:
        while not stop_requested:
            if not server.is_running():
                log.error("embedded valkey exited on its own")
                return 1
            time.sleep(0.2)
    finally:
        server.stop()
    return 0


def simulator_config(settings: Settings) -> SimConfig:
    from callcenter.pbx.simulator import SimConfig
    from callcenter.pbx.traffic import TrafficModel

    sim = settings.simulator
    return SimConfig(
        # A logged day brings its own agents and callers (see `cmd_simulate`).
        queue=settings.hotline.queue, agents=0 if sim.trace else sim.agents, generate_traffic=not sim.trace,
        username=settings.ami.username, secret=settings.ami.secret,
        acceleration=sim.acceleration, seed=sim.seed, timezone=settings.hotline.timezone,
        resident_answer_probability=sim.resident_answer_probability, originate_log=sim.originate_log,
        callback_share=sim.callback_share, callback_url=sim.callback_url, traffic_until=sim.traffic_until,
        queue_log=sim.queue_log, agent_no_answer=0.0 if sim.trace else SimConfig.agent_no_answer,
        traffic=TrafficModel(calls_per_day=sim.calls_per_day, mean_handle=sim.mean_handle_seconds,
                             mean_patience=sim.mean_patience_seconds, any_hour=sim.any_hour))


def cmd_simulate(args: argparse.Namespace) -> int:
    """The PBX simulator alone, so that a service (or anything speaking AMI) can be pointed at it."""
    from callcenter.pbx.simulator import PbxSimulator

    settings = _with_logging(args)
    if not settings.ami.secret:
        print("set CALLCENTER_AMI_SECRET: the simulator's AMI user needs a secret", file=sys.stderr)
        return 1

    async def serve_simulator() -> dict[str, Any]:
        config = simulator_config(settings)
        base = timebase.current()
        if base.simulated:
            # The deployment runs a simulated day: the PBX keeps the same time as the service and the worker.
            config = dataclasses.replace(config, acceleration=base.rate)
            simulator = PbxSimulator(config, start_time=base.now())
        else:
            simulator = PbxSimulator(config)
        await simulator.start(args.host or settings.simulator.host, args.port or settings.simulator.port)
        if settings.simulator.trace:
            _play_trace(simulator, settings)
        print(f"PBX simulator: AMI on {args.host or settings.simulator.host}:{simulator.port}, "
              f"user {settings.ami.username}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await simulator.stop()
        return simulator.stats()

    stats = _profiled("simulator", lambda: asyncio.run(serve_simulator()))
    if settings.simulator.stats_file:
        Path(settings.simulator.stats_file).write_text(json.dumps(stats), encoding="utf-8")
    return 0


def _play_trace(simulator: PbxSimulator, settings: Settings) -> None:
    """Put a logged day's agents and callers on the simulator's clock, on the same wall-clock times."""
    from callcenter.simulation.trace import day_calls, parse_day, read_trace
    from callcenter.simulation.trace_replay import day_origin, schedule_day

    sim = settings.simulator
    day = parse_day(sim.trace_date)
    origin = day_origin(day, settings.hotline.timezone)
    until = sim.traffic_until - origin if sim.traffic_until else None
    calls = day_calls(read_trace(Path(sim.trace)), day)
    scheduled = schedule_day(simulator, simulator.clock, calls, origin, sim.seed, until)
    log.info("playing a logged day", extra={"trace": sim.trace, "day": day.isoformat(), "callers": scheduled})


def cmd_replay(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from callcenter.pbx.replay import replay

    result = replay(Path(args.file).read_bytes())
    document = result.to_json()
    if args.json:
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    print(f"{args.file}: {result.frames} frames, {len(result.unparsed)} unparsed")
    for reason in result.unparsed:
        print(f"  unparsed: {reason}")
    for name, queue in document["queues"].items():
        counters = queue["counters"]
        print(f"queue {name}: {len(queue['waiting'])} waiting, {len(queue['members'])} members; offered "
              f"{counters['offered']}, answered {counters['answered']}, abandoned {counters['abandoned']}")
        for caller in queue["waiting"]:
            print(f"  {caller['position']:>3}. {caller['uniqueid']} {caller['callerid']}")
        for member in queue["members"]:
            print(f"  member {member['interface']} ({member['name']}): {member['state']}")
    return 0


def store_for_command(settings: Settings) -> tuple[str, EmbeddedValkey | None]:
    """REDIS_URL, or the store of a running `callcenter run`, or the embedded store started for the moment
    (never two servers on one data directory)."""
    from callcenter.storage import EmbeddedValkey
    from callcenter.supervisor import running_store_url

    url = settings.redis.url or running_store_url(settings)
    if url:
        return url, None
    embedded = EmbeddedValkey(settings.redis.data_dir)
    return embedded.start(), embedded


def cmd_import_cases(args: argparse.Namespace) -> int:
    from pathlib import Path

    from callcenter.cases.importer import check_file
    from callcenter.cases.model import load_vocabulary
    from callcenter.cases.store import CaseStore
    from callcenter.storage import connect

    settings = _settings(args)
    path = Path(args.file)
    if not path.is_file():
        print(f"error: no file {path}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    report = check_file(path, settings.cases.number_pattern, load_vocabulary(settings.cases.statuses_file))
    for line, reason in report.errors:
        print(f"{path}:{line}: {reason}")
    if not report.ok:
        print(f"{len(report.errors)} bad row(s): nothing imported (a file is imported whole or not at all)")
        return 1
    if args.dry_run:
        print(f"{len(report.cases)} case(s) would be imported; nothing written (dry run)")
        return 0
    url, embedded = store_for_command(settings)

    async def write() -> None:
        client = connect(url)
        try:
            await CaseStore(client, settings.cases).upsert_all(report.cases)
        finally:
            await client.aclose()

    try:
        asyncio.run(write())
    finally:
        if embedded is not None:
            embedded.stop()
    elapsed = time.perf_counter() - started
    print(f"imported {len(report.cases)} case(s) in {elapsed:.1f} s ({len(report.cases) / max(elapsed, 1e-9):,.0f}/s)")
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    """Staff accounts. Uses REDIS_URL, or the store of a running `callcenter run`, or starts the embedded
    store on its data directory for the moment."""
    import getpass

    from callcenter.accounts.lockout import LoginLimiter
    from callcenter.accounts.store import AccountError, AccountStore
    from callcenter.storage import connect

    settings = _settings(args)
    if args.action != "list" and not args.username:
        print(f"error: user {args.action} needs a user name", file=sys.stderr)
        return 2
    url, embedded = store_for_command(settings)

    def password() -> str:
        if args.password_stdin:
            return sys.stdin.readline().rstrip("\n")
        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise AccountError("the passwords differ")
        return first

    async def act() -> int:
        client = connect(url)
        accounts = AccountStore(client)
        try:
            if args.action == "add":
                await accounts.add(args.username, args.name or args.username, args.role, password(),
                                   args.interface or "", args.extension or "",
                                   state_interface=args.state_interface or "")
                print(f"added {args.username} ({args.role})")
            elif args.action == "list":
                for user in await accounts.all():
                    state = "disabled" if user.disabled else "active"
                    print(f"{user.username:<16} {user.role:<12} {state:<9} {user.interface:<18} {user.name}")
            elif args.action == "disable":
                await accounts.set_disabled(args.username, True)
                print(f"disabled {args.username}; their sessions are ended")
            elif args.action == "enable":
                await accounts.set_disabled(args.username, False)
                print(f"enabled {args.username}")
            elif args.action == "passwd":
                await accounts.set_password(args.username, password())
                print(f"password of {args.username} changed; their sessions are ended")
            elif args.action == "unlock":
                if await accounts.get(args.username) is None:
                    raise AccountError(f"no user {args.username}")
                await LoginLimiter(client).unlock(args.username)
                print(f"wrong-password locks of {args.username} lifted")
        except AccountError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            await client.aclose()
        return 0

    try:
        return asyncio.run(act())
    finally:
        if embedded is not None:
            embedded.stop()


def cmd_asterisk_config(args: argparse.Namespace) -> int:
    """Write the operators' PJSIP endpoints (the include pjsip.conf loads) from the accounts, then have Asterisk
    reload res_pjsip through AMI when asked."""
    from callcenter.accounts.store import AccountStore
    from callcenter.softphone.pjsip import Operator, render
    from callcenter.storage import connect

    settings = _settings(args)
    if not settings.softphone.secret:
        print("error: set CALLCENTER_SOFTPHONE_SECRET (the operators' SIP passwords are derived from it)",
              file=sys.stderr)
        return 2
    url, embedded = store_for_command(settings)

    async def accounts() -> list[Operator]:
        client = connect(url)
        try:
            return [Operator(u.extension, u.name) for u in await AccountStore(client).all()
                    if u.extension and not u.disabled]
        finally:
            await client.aclose()

    try:
        operators = asyncio.run(accounts())
    finally:
        if embedded is not None:
            embedded.stop()
    text = render(operators, settings.softphone.secret)
    output = Path(args.output)
    # Readable by its owner only: it holds every operator's SIP password.
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    print(f"wrote {len(operators)} operator endpoint(s) to {output}")
    if not args.reload:
        return 0
    return asyncio.run(_reload_pjsip(settings))


async def _reload_pjsip(settings: Settings) -> int:
    from callcenter.pbx.ami import AmiClient, AmiError

    ami = settings.ami
    if not ami.host:
        print("error: --reload needs Asterisk's AMI (ami.host)", file=sys.stderr)
        return 2
    client = AmiClient(ami.host, ami.port, ami.username, ami.secret, events="off",
                       connect_timeout=ami.connect_timeout, action_timeout=ami.action_timeout)
    try:
        await client.connect()
        # `Reload` of one module needs the AMI user's `system` (or `config`) write right; not `command`, which
        # would let the user run any CLI command.
        await client.send_action("Reload", [("Module", "res_pjsip.so")])
    except AmiError as exc:
        print(f"error: the reload failed ({exc}); run `asterisk -rx 'module reload res_pjsip.so'` instead",
              file=sys.stderr)
        return 1
    finally:
        await client.close()
    print("Asterisk reloaded res_pjsip")
    return 0


def cmd_simulate_day(args: argparse.Namespace) -> int:
    """One working day of the whole hotline, faster than real time, then the invariants and the report."""

    from callcenter.simulation.day import DayOptions, run_day
    from callcenter.simulation.trace import parse_day

    settings = _with_logging(args)
    options = DayOptions(day=parse_day(args.date), seed=args.seed, requests=args.requests,
                         scale=args.scale, acceleration=args.acceleration, faults=args.faults,
                         link_drop_seconds=args.link_drop_seconds, video_sessions=args.video_sessions,
                         workdir=Path(args.workdir) if args.workdir else None, drain_minutes=args.drain_minutes,
                         until=args.until, profile=args.profile, memory=args.memory,
                         trace=Path(args.trace) if args.trace else None)
    return run_day(settings, options)


def cmd_prompts(args: argparse.Namespace) -> int:
    """Stand-in IVR prompts: synthesise them into Asterisk's sounds directory, or list them."""
    from callcenter import prompts

    return prompts.command(args.action, args.directory, args.languages, args.force, args.jobs,
                           digits=not args.no_digits)


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Docker's health check: the part this container runs, where its settings put it (exit 0 or 1)."""
    from callcenter.healthcheck import run_healthcheck

    return run_healthcheck(args)


Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcenter", description="The hotline service.")
    parser.add_argument("--config", help="settings file (default: $CALLCENTER_CONFIG or config/callcenter.toml)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text)
        command.set_defaults(func=func)
        return command

    add("run", cmd_run, "everything on this machine: store, PBX simulator, service, worker")
    add("serve", cmd_serve, "the web service and the PBX link")
    add("worker", cmd_worker, "an RQ worker with the scheduler").add_argument(
        "--burst", action="store_true", help="exit when the queues are empty")
    add("check-config", cmd_check_config, "validate the settings and list every problem").add_argument(
        "file", nargs="?", help="the file to check")
    simulate = add("simulate", cmd_simulate, "the PBX simulator alone (AMI over TCP)")
    simulate.add_argument("--host")
    simulate.add_argument("--port", type=int)
    day = add("simulate-day", cmd_simulate_day,
              "a whole working day end to end (store, PBX simulator, service, worker), then the invariants")
    day.add_argument("--date", default="2026-11-24",
                     help="the simulated day (default 2026-11-24, a Tuesday; YYMMDD accepted, as a log's dates)")
    day.add_argument("--seed", type=int, default=1)
    day.add_argument("--requests", type=int, default=3000, help="requests in the day at scale 1")
    day.add_argument("--scale", type=float, default=1.0, help="multiply the day's traffic (100: 300,000)")
    day.add_argument("--acceleration", type=float, default=60.0, help="simulated seconds per real second")
    day.add_argument("--faults", action="store_true",
                     help="mid-day: kill -9 the worker, restart the store, drop the AMI link, restart the service")
    day.add_argument("--link-drop-seconds", type=float, default=10.0, help="how long the AMI link is down (real s)")
    day.add_argument("--video-sessions", type=int, help="video sessions in the day (default: 1 per 600 requests)")
    day.add_argument("--drain-minutes", type=float, default=45.0,
                     help="simulated minutes after closing for the last calls to finish")
    day.add_argument("--until", help="simulate the day up to this time (HH:MM) only (default 20:00, or the end of "
                                     "a logged day)")
    day.add_argument("--trace", help="play a real call centre's logged day (Anonymous Bank format, .tsv or .tsv.gz, "
                                     "e.g. benchmarks/data/anonymous-bank-1999-02.tsv.gz) instead of drawn "
                                     "requests; --date names the day (YYMMDD, e.g. 990215)")
    day.add_argument("--profile", action="store_true",
                     help="profile the service, the worker and the simulator (server.prof, worker.prof, "
                          "simulator.prof in the workdir)")
    day.add_argument("--memory", action="store_true",
                     help="trace the service's, the worker's and the simulator's allocations "
                          "(server.tracemalloc, worker.tracemalloc, simulator.tracemalloc in the workdir: what "
                          "each still holds at the end)")
    day.add_argument("--workdir", help="where the processes' logs and data go (default: a new temporary folder)")
    replay_cmd = add("replay", cmd_replay, "feed a recorded AMI stream through the parser and tracker")
    replay_cmd.add_argument("file")
    replay_cmd.add_argument("--json", action="store_true", help="print the final state as JSON")
    importer = add("import-cases", cmd_import_cases, "load cases from CSV or JSON Lines (all or nothing)")
    importer.add_argument("file")
    importer.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    user = add("user", cmd_user, "staff accounts: add, list, disable, enable, passwd, unlock (wrong-password "
               "locks)")
    user.add_argument("action", choices=["add", "list", "disable", "enable", "passwd", "unlock"])
    user.add_argument("username", nargs="?")
    user.add_argument("--role", choices=["operator", "interpreter", "supervisor"], default="operator")
    user.add_argument("--name", help="the person's name, as shown on the dashboard")
    user.add_argument("--interface", help="the operator's queue member interface, e.g. Local/101@agents")
    user.add_argument("--state-interface", help="the device app_queue watches for the member (default: PJSIP/101 "
                      "for Local/101@agents)")
    user.add_argument("--extension", help="the operator's softphone extension, e.g. 101")
    user.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    asterisk = add("asterisk-config", cmd_asterisk_config,
                   "write the operators' softphone endpoints (PJSIP include) from the accounts")
    asterisk.add_argument("--output", default="pjsip_operators.conf",
                          help="the file pjsip.conf includes (e.g. /etc/asterisk/pjsip_operators.conf)")
    asterisk.add_argument("--reload", action="store_true", help="then reload res_pjsip through AMI")
    prompts = add("prompts", cmd_prompts, "IVR prompts: build DIR synthesises stand-ins (espeak-ng, sox); list")
    prompts.add_argument("action", choices=["build", "list"])
    prompts.add_argument("directory", nargs="?", help="Asterisk's sounds directory: <lang>/hotline/... go there")
    prompts.add_argument("--languages", default="ru,en", help="comma-separated (default ru,en)")
    prompts.add_argument("--force", action="store_true", help="rebuild all, replacing files not written by it")
    prompts.add_argument("--jobs", type=int, help="synthesis jobs at once (default: up to 4)")
    prompts.add_argument("--no-digits", action="store_true",
                         help="leave out the stand-ins for Asterisk's digits/* (when core-sounds-ru is installed)")
    from callcenter.healthcheck import add_arguments as healthcheck_arguments

    healthcheck_arguments(add("healthcheck", cmd_healthcheck, "is the part this container runs healthy? "
                              "(serve: /healthz; worker: its RQ registration; simulate: AMI)"))
    embedded = add("embedded-redis", cmd_embedded_redis, argparse.SUPPRESS)
    embedded.add_argument("--port", type=int, required=True)
    embedded.add_argument("--data-dir", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
