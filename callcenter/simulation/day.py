"""`callcenter simulate-day`: one working day of the whole hotline, end to end, faster than real time.

The real service, a worker, the embedded Redis-compatible server and the PBX simulator run as separate
processes on one simulated clock (CALLCENTER_TIMEBASE). The PBX simulator makes the voice calls (callers who
tire of waiting hang up or press 2 for a callback, which its dialplan requests from the service); this
process makes the rest of the day's requests over HTTP (web callbacks, IVR and web case look-ups) and plays
a few video sessions with aiortc peers. With --faults it kills and restarts parts mid-day. At the end it
checks the invariants and prints the day report; the exit code says whether they held.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import aiohttp

from callcenter import timebase
from callcenter.accounts.store import AccountStore, hash_password
from callcenter.callbacks.store import CallbackStore
from callcenter.cases.store import CaseStore
from callcenter.config import Settings
from callcenter.reports.source import day_report
from callcenter.simulation.deployment import Deployment, LinkCutter, Usage, base_env, start_store, wait_ready
from callcenter.simulation.plan import DayPlan, Request, plan_day
from callcenter.simulation.trace import Call, day_calls, read_trace, shifts
from callcenter.simulation.trace_replay import day_origin
from callcenter.storage import connect
from callcenter.supervisor import free_port, wait_for_port

log = logging.getLogger(__name__)
AGENTS_PER_1000 = 6
STARTUP_SECONDS = 20.0
VIDEO_TIMEOUT = 300.0  # real seconds a simulated video session may take before it counts as not completed
USAGE_SAMPLE_SECONDS = 30.0  # real seconds between samples of each process's CPU and memory
# Marks of an exception nobody handled, in any process's log.
UNHANDLED = re.compile(r"unhandled error|Task exception was never retrieved|Exception in callback|"
                       r"Unhandled exception")


@dataclass
class DayOptions:
    day: date
    seed: int = 1
    requests: int = 3000
    scale: float = 1.0
    acceleration: float = 60.0
    faults: bool = False
    link_drop_seconds: float = 10.0
    video_sessions: int | None = None
    workdir: Path | None = None
    drain_minutes: float = 45.0
    until: str | None = None  # HH:MM: only the day's first part (default 20:00, or a logged day's end)
    # A real centre's logged day (simulation/trace.py) played instead of drawn calls: its callers, agents'
    # shifts and after-call pauses, on the same wall-clock times; `day` is then the log's date.
    trace: Path | None = None
    profile: bool = False
    memory: bool = False


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    accepted_callbacks: list[str] = field(default_factory=list)
    lookups: Counter[str] = field(default_factory=Counter)
    video: Counter[str] = field(default_factory=Counter)
    faults: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retries: int = 0
    settle_seconds: float = 0.0
    requested_after_closing: int = 0
    # Per process: the first and the latest sample. The latest carries the kernel's own peak RSS; after a
    # restart (--faults) its CPU and peak count from the restart.
    first_usage: dict[str, Usage] = field(default_factory=dict)
    last_usage: dict[str, Usage] = field(default_factory=dict)

    def record_usage(self, sample: dict[str, Usage]) -> None:
        for name, usage in sample.items():
            self.first_usage.setdefault(name, usage)
            self.last_usage[name] = usage

    def usage_line(self) -> str:
        return "; ".join(
            f"{name} CPU {usage.cpu_seconds:.0f} s, RSS {self.first_usage[name].rss_mb:.0f} → peak "
            f"{usage.peak_rss_mb:.0f} → {usage.rss_mb:.0f} MB" for name, usage in self.last_usage.items())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


class Day:
    def __init__(self, settings: Settings, options: DayOptions) -> None:
        self.settings = settings
        self.options = options
        self.zone = ZoneInfo(settings.hotline.timezone)
        self.logged = day_calls(read_trace(options.trace), options.day) if options.trace else []
        if options.trace and not self.logged:
            raise ValueError(f"{options.trace} has no calls on {options.day.isoformat()}")
        total = 0 if options.trace else int(options.requests * options.scale)
        plan = plan_day(options.day, settings.hotline.timezone, total, options.seed,
                        0 if options.trace else options.video_sessions)
        if self.logged:
            # The log's day: from its first agent or caller to its last caller (past midnight, as the log runs).
            origin = day_origin(options.day, settings.hotline.timezone)
            plan = dataclasses.replace(plan, opens_at=origin + min(
                min(c.arrival for c in self.logged), min(s.start for s in shifts(self.logged))) - 60,
                closes_at=origin + max(c.arrival for c in self.logged) + 1)
        end = plan.closes_at
        if options.until:
            hour, minute = (int(part) for part in options.until.split(":"))
            end = datetime(options.day.year, options.day.month, options.day.day, hour, minute,
                           tzinfo=self.zone).timestamp()
        self.plan: DayPlan = dataclasses.replace(
            plan, closes_at=min(plan.closes_at, end), requests=[r for r in plan.requests if r.at < end])
        self.tally = Tally()
        self.workdir = options.workdir or Path(tempfile.mkdtemp(prefix="simulate-day-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.agents = max(4, round(self.plan.voice_calls / 1000 * AGENTS_PER_1000))
        self.http_port = free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.deployment: Deployment | None = None
        self.cutter: LinkCutter | None = None
        self.redis_url = ""
        # The day's staff logins exist only in this run's throw-away store.
        self.password = secrets.token_urlsafe(12)

    # -- processes -------------------------------------------------------------------------------------------

    def _timebase(self) -> timebase.Timebase:
        # The processes need some real seconds to start: the opening comes that long from now.
        lead = STARTUP_SECONDS * self.options.acceleration
        return timebase.Timebase(self.plan.opens_at - lead, time.time(), self.options.acceleration)

    async def start(self) -> None:
        deployment = Deployment(self.workdir, base_env(""))
        self.deployment = deployment
        self.redis_url = start_store(deployment)
        sim_port = free_port()
        secret = secrets.token_urlsafe(12)
        clock = self._timebase()
        env = deployment.env
        env.update({
            "REDIS_URL": self.redis_url, "CALLCENTER_TIMEBASE": clock.env_value(),
            "CALLCENTER_AMI_HOST": "127.0.0.1", "CALLCENTER_AMI_SECRET": secret,
            "CALLCENTER_AMI_USERNAME": self.settings.ami.username,
            "CALLCENTER_HTTP_HOST": "127.0.0.1", "CALLCENTER_HTTP_PORT": str(self.http_port),
            "CALLCENTER_SIMULATOR_PORT": str(sim_port), "CALLCENTER_SIMULATOR_HOST": "127.0.0.1",
            "CALLCENTER_SIMULATOR_AGENTS": str(self.agents),
            "CALLCENTER_SIMULATOR_CALLS_PER_DAY": str(self.plan.voice_calls),
            "CALLCENTER_SIMULATOR_ANY_HOUR": "false", "CALLCENTER_SIMULATOR_SEED": str(self.options.seed),
            "CALLCENTER_SIMULATOR_CALLBACK_SHARE": "0.3",
            "CALLCENTER_SIMULATOR_CALLBACK_URL": f"{self.base}/api/ivr/callback",
            "CALLCENTER_SIMULATOR_ORIGINATE_LOG": str(self.workdir / "originates.jsonl"),
            "CALLCENTER_SIMULATOR_STATS_FILE": str(self.workdir / "simulator.json"),
            # The PBX keeps a queue_log as Asterisk does; the reports read it for what the AMI link missed.
            "CALLCENTER_SIMULATOR_QUEUE_LOG": str(self.workdir / "queue_log"),
            "CALLCENTER_REPORTS_QUEUE_LOG": str(self.workdir / "queue_log"),
            "CALLCENTER_VIDEO_RECORDINGS": "", "CALLCENTER_VIDEO_HOST_ADDRESSES": "127.0.0.1",
            # Every simulated resident comes from this machine's one address.
            "CALLCENTER_VIDEO_LIVE_SESSIONS_PER_ADDRESS": "100000",
            "CALLCENTER_VIDEO_SESSIONS_PER_ADDRESS_HOUR": "100000",
            "CALLCENTER_LOGGING_LEVEL": "WARNING",
            "CALLCENTER_SIMULATOR_TRAFFIC_UNTIL": str(self.plan.closes_at),
            # `--until` plays a short working day: the hotline closes then, and the closing sweep carries the
            # callbacks still waiting over, so the end-of-day invariants hold for part of a day too.
            "CALLCENTER_HOURS_CHANGED": f"{self.options.day.isoformat()} {self._hours()}",
            # Residents reach the service through a reverse proxy (this process), which names each one's address.
            "CALLCENTER_HTTP_TRUSTED_PROXIES": "127.0.0.1",
        })
        if self.options.trace:
            # The log's callers hang up when tired (no callback key), and its agents answer every ring.
            env.update({"CALLCENTER_SIMULATOR_TRACE": str(self.options.trace.resolve()),
                        "CALLCENTER_SIMULATOR_TRACE_DATE": self.options.day.isoformat(),
                        "CALLCENTER_SIMULATOR_CALLBACK_SHARE": "0"})
        if self.options.profile:
            env["CALLCENTER_PROFILE"] = str(self.workdir)
        if self.options.memory:
            env["CALLCENTER_TRACEMALLOC"] = str(self.workdir)
        await self._prepare_data()
        simulator = deployment.start("simulator", "simulate")
        await asyncio.to_thread(wait_for_port, "127.0.0.1", sim_port, 20.0, lambda: simulator.alive)
        # The service reaches the PBX through a relay this process can cut (the AMI link fault).
        self.cutter = LinkCutter(sim_port)
        await self.cutter.start()
        env["CALLCENTER_AMI_PORT"] = str(self.cutter.port)
        deployment.start("server", "serve")
        deployment.start("worker", "worker")
        await asyncio.to_thread(wait_ready, f"{self.base}/readyz", 60.0, deployment)
        if self.now() >= self.plan.opens_at:
            raise RuntimeError(f"the deployment took over {STARTUP_SECONDS:.0f} s to start: the day began unseen")

    def _hours(self) -> str:
        if self.options.until:
            return f"{'00:00' if self.options.trace else '08:00'}-{self.options.until}"
        return "00:00-23:59" if self.options.trace else "08:00-20:00"

    async def _prepare_data(self) -> None:
        client = connect(self.redis_url)
        try:
            await CaseStore(client, self.settings.cases).upsert_all(self.plan.cases)
            accounts = AccountStore(client)
            # Every queue member has a dashboard, as on a real floor (a video session goes to whoever app_queue
            # picks); one Argon2 hash serves them all, or a floor at scale 100 would take a minute to create.
            users = [(f"int{i}", "interpreter", "") for i in range(1, 3)] + \
                [(f"op{i}", "operator", f"Local/{i}@agents") for i in range(1, self.agents + 1)] + \
                [("sup", "supervisor", "")]
            shared = hash_password(self.password)
            for username, role, interface in users:
                if await accounts.get(username) is None:
                    await accounts.add(username, username, role, "", interface, "", password_hash=shared)
        finally:
            await client.aclose()

    # -- the day ---------------------------------------------------------------------------------------------

    def now(self) -> float:
        return timebase.Timebase.parse(self._env_timebase()).now()

    def _env_timebase(self) -> str:
        assert self.deployment is not None
        return self.deployment.env["CALLCENTER_TIMEBASE"]

    async def until(self, simulated: float) -> None:
        clock = timebase.Timebase.parse(self._env_timebase())
        delay = clock.to_real(simulated) - time.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def run(self) -> int:
        logging.getLogger("aioice").setLevel(logging.WARNING)
        try:
            await self.start()
            async with aiohttp.ClientSession(base_url=self.base) as http:
                self.http = http
                watching = asyncio.create_task(self._watch_usage())
                work = [asyncio.create_task(self._requests())]
                if self.options.faults:
                    work.append(asyncio.create_task(self._faults()))
                await asyncio.gather(*work)
                await self.until(self.plan.closes_at + self.options.drain_minutes * 60)
                await self._settle()
                watching.cancel()
            assert self.deployment is not None
            self.tally.record_usage(self.deployment.usage())
            for name in ("worker", "server", "simulator"):
                self.deployment.stop(name)
            report, failures = await self.check()
        finally:
            if self.cutter is not None:
                await self.cutter.close()
            if self.deployment is not None:
                self.deployment.stop_all()
        origin = day_origin(self.options.day, self.settings.hotline.timezone)
        played = [c for c in self.logged if origin + c.arrival < self.plan.closes_at]
        print(summary(report, self.plan, self.tally, failures, self.workdir, played))
        return 1 if failures else 0

    async def _watch_usage(self, every: float = USAGE_SAMPLE_SECONDS) -> None:
        """Each process's CPU and memory through the day, into usage.jsonl: a leak shows as a climbing line."""
        assert self.deployment is not None
        with (self.workdir / "usage.jsonl").open("a", encoding="utf-8") as out:
            while True:
                sample = self.deployment.usage()
                self.tally.record_usage(sample)
                clock = datetime.fromtimestamp(self.now(), self.zone).strftime("%H:%M:%S")
                out.write(json.dumps({"at": clock, **{name: dataclasses.asdict(u) for name, u in sample.items()}})
                          + "\n")
                out.flush()
                await asyncio.sleep(every)

    async def _requests(self) -> None:
        limit = asyncio.Semaphore(64)
        tasks: list[asyncio.Task[None]] = []

        async def one(request: Request) -> None:
            async with limit:
                for attempt in range(10):
                    try:
                        await self._request(request)
                        return
                    except aiohttp.ClientConnectionError:
                        # The service is restarting (a fault): a resident's browser tries again.
                        self.tally.retries += 1
                        await asyncio.sleep(0.5 * (attempt + 1))
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        self.tally.errors.append(f"{request.kind}: {type(exc).__name__}")
                        return
                self.tally.errors.append(f"{request.kind}: the service did not answer")

        for request in self.plan.requests:
            await self.until(request.at)
            tasks.append(asyncio.create_task(one(request)))
        await asyncio.gather(*tasks)

    async def _request(self, request: Request) -> None:
        if request.kind == "web_callback":
            async with self.http.post("/api/callbacks", json={"phone": request.phone, "topic": "субсидия"},
                                      headers=resident_address(request)) as r:
                self.tally.statuses[r.status] += 1
                if r.status == 201:
                    self.tally.accepted_callbacks.append((await r.json())["id"])
        elif request.kind == "ivr_lookup":
            async with self.http.post("/api/ivr/case-status", data={"case": request.case, "factor": request.factor,
                                                                     "callerid": request.phone}) as r:
                self.tally.statuses[r.status] += 1
                answer = parse_qs(await r.text())
                self.tally.lookups[f"ivr:{answer.get('result', ['?'])[0]}"] += 1
        elif request.kind == "web_lookup":
            async with self.http.post("/api/cases/lookup", json={"case": request.case, "birth_date": request.factor},
                                      headers=resident_address(request)) as r:
                self.tally.statuses[r.status] += 1
                self.tally.lookups[f"web:{r.status}"] += 1
        elif request.kind == "video":
            await self._video()

    async def _video(self) -> None:
        from callcenter.simulation.video import play_session

        try:
            outcome = await asyncio.wait_for(
                play_session(self.base, self.options.acceleration, self.password, self.tally.statuses),
                VIDEO_TIMEOUT)
        except (TimeoutError, RuntimeError, aiohttp.ClientError) as exc:
            outcome = f"not completed ({type(exc).__name__})"
        self.tally.video[outcome] += 1

    async def _faults(self) -> None:
        """Mid-day: kill -9 the worker, restart the store, drop the AMI link, restart the service."""
        assert self.deployment is not None and self.cutter is not None
        hour = 3600

        async def at(offset_hours: float, name: str) -> None:
            await self.until(self.plan.opens_at + offset_hours * hour)
            self.tally.faults.append(f"{name} at {datetime.fromtimestamp(self.now(), self.zone):%H:%M}")

        deployment = self.deployment
        await at(2.0, "worker killed (-9) and restarted")
        await asyncio.to_thread(deployment.kill, "worker")
        deployment.start("worker", "worker")
        await at(4.0, "store restarted")
        await asyncio.to_thread(deployment.restart, "valkey")
        await at(6.0, f"AMI link dropped for {self.options.link_drop_seconds:.0f} s")
        await self.cutter.drop(self.options.link_drop_seconds)
        await at(8.0, "service restarted")
        await asyncio.to_thread(deployment.restart, "server")
        await asyncio.to_thread(wait_ready, f"{self.base}/readyz", 60.0, deployment)

    async def _settle(self, timeout: float = 180.0) -> None:
        """After the drain, wait until no callback is mid-dial and the closing sweep has carried over every
        callback that was due (at scale it works through thousands); the time it took is reported."""
        client = connect(self.redis_url)
        started = time.monotonic()
        try:
            while time.monotonic() - started < timeout:
                busy = sum([await client.zcard(f"cb:status:{s}") for s in ("dialling", "connected")])
                # After closing, the closing sweep moves every callback still queued to the next working day;
                # on a loaded machine it may not have reached them all yet.
                if self.now() >= self.plan.closes_at:
                    busy += await client.zcard("cb:status:queued")
                overdue = await client.zcount("cb:status:scheduled", "-inf", self.now())
                if not busy and not overdue:
                    break
                await asyncio.sleep(0.5)
        finally:
            self.tally.settle_seconds = time.monotonic() - started
            await client.aclose()

    # -- the invariants --------------------------------------------------------------------------------------

    async def check(self) -> tuple[dict[str, Any], list[str]]:
        failures: list[str] = []
        client = connect(self.redis_url)
        try:
            from callcenter.reports.day import day_bounds

            start, end = day_bounds(self.options.day, self.zone)
            store = CallbackStore(client)
            callbacks = await store.created_between(start, end)
            report = await day_report(client, self.settings, CaseStore(client, self.settings.cases),
                                      self.options.day)
        finally:
            await client.aclose()
        sim = json.loads((self.workdir / "simulator.json").read_text(encoding="utf-8"))
        accepted = set(self.tally.accepted_callbacks)
        for record in sim["ivr_callbacks"]:
            answer = parse_qs(str(record.get("answer", "")))
            if answer.get("result") == ["accepted"]:
                accepted.add(answer["id"][0])
        stored = {cb.id: cb for cb in callbacks}
        missing = sorted(accepted - set(stored))
        if missing:
            failures.append(f"{len(missing)} accepted callbacks are missing from the store: {missing[:5]}")
        for cb in stored.values():
            # A request that reached the service after closing (a late browser, a lagging driver) is rightly
            # booked for the next opening, not carried over.
            after_closing = cb.status == "scheduled" and cb.created_at >= self.plan.closes_at \
                and cb.due_at > self.plan.closes_at
            self.tally.requested_after_closing += after_closing
            settled = cb.status == "done" or (cb.status == "failed" and cb.reason) or after_closing or \
                (cb.carried_over and cb.status in ("scheduled", "queued")) or cb.status == "cancelled"
            if not settled:
                failures.append(f"callback {cb.id} ended the day {cb.status} ({cb.reason or 'no reason'})")
        dialled = Counter(json.loads(line).get("ActionID", "")
                          for line in (self.workdir / "originates.jsonl").read_text(encoding="utf-8").splitlines()
                          if line.strip()) if (self.workdir / "originates.jsonl").exists() else Counter()
        twice = [action for action, n in dialled.items() if action and n > 1]
        if twice:
            failures.append(f"{len(twice)} attempts dialled more than once: {twice[:5]}")
        # The report must count exactly what the PBX did, faults or not. What happened while the AMI link was
        # down never reached the service live (AMI keeps no history); the report has it from the queue_log.
        calls = report["calls"]
        day = sim["daily"].get(self.options.day.isoformat(), {})
        for name in ("offered", "answered", "abandoned", "exited"):
            if calls[name] != day.get(name, 0):
                failures.append(f"report {name} {calls[name]} != simulator {name} {day.get(name, 0)}")
        report["unseen_by_service"] = {name: day.get(name, 0) - day.get(f"observed_{name}", 0)
                                       for name in ("offered", "answered", "abandoned", "exited")}
        report["simulator_day"] = day
        if self.tally.server_errors:
            failures.append(f"{self.tally.server_errors} responses were 5xx")
        ivr_5xx = sum(1 for record in sim["ivr_callbacks"] if int(record.get("status", 0)) >= 500)
        if ivr_5xx:
            failures.append(f"{ivr_5xx} IVR callback requests got a 5xx")
        assert self.deployment is not None
        for name, text in self.deployment.logs().items():
            found = UNHANDLED.findall(text)
            if found:
                failures.append(f"{name}'s log has {len(found)} unhandled exception(s): {found[0]!r}")
        dead = self.deployment.unexpected_exits()
        if dead:
            failures.append(f"exited unexpectedly: {', '.join(dead)}")
        report["simulator"] = {k: v for k, v in sim.items() if k != "ivr_callbacks"}
        report["callbacks_checked"] = len(stored)
        return report, failures


def resident_address(request: Request) -> dict[str, str]:
    """The header the reverse proxy in front of the service adds: each resident's own address (from their
    phone number), so that per-address limits and lockouts count residents."""
    number = int(request.phone[-7:]) if request.phone[-7:].isdigit() else 0
    return {"X-Forwarded-For": f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"}


def summary(report: dict[str, Any], plan: DayPlan, tally: Tally, failures: list[str], workdir: Path,
            logged: list[Call] | None = None) -> str:
    calls = report["calls"]
    cb = report["callbacks"]
    sl = calls["service_level"]
    lines = [
        f"Logged day {report['date']} played: {len(logged)} callers of the log (to the end of the day played)"
        if logged else
        f"Simulated day {report['date']}: {plan.voice_calls} voice calls planned, "
        f"{plan.count('web_callback')} web callbacks, {plan.count('ivr_lookup')} IVR and "
        f"{plan.count('web_lookup')} web look-ups, {plan.count('video')} video sessions",
        f"  calls: offered {calls['offered']}, answered {calls['answered']}, abandoned {calls['abandoned']}, "
        f"left for a callback {calls['exited']}; service level {'—' if sl is None else f'{sl:.1%}'}, "
        f"ASA {calls['average_speed_of_answer']} s, longest wait {calls['longest_wait']} s",
        f"  the simulator counted that day: {report['simulator_day']}",
        *([f"  the log for the same hours: {len(logged)} queue calls, "
           f"{sum(c.outcome == 'served' for c in logged)} served, {sum(c.outcome == 'abandoned' for c in logged)} "
           f"abandoned, {sum(c.outcome == 'phantom' for c in logged)} vanished"] if logged else []),
        f"  callbacks: requested {cb['requested']} {cb['requested_by_channel']}, done first "
        f"{cb['completed_first_attempt']} / later {cb['completed_later_attempt']}, failed {cb['failed_by_reason']}, "
        f"carried over {cb['carried_over']}, pending {cb['pending']}",
        f"  case look-ups: {report['case_lookups']['by_channel']}",
        f"  video: {report['video']['sessions']} sessions {dict(tally.video)}, wait for interpreter "
        f"{report['video']['wait_for_interpreter']}, for operator {report['video']['wait_for_operator']}",
        f"  HTTP statuses: {dict(sorted(tally.statuses.items()))}; retried while the service restarted "
        f"{tally.retries}; client errors {len(tally.errors)}; callbacks settled {tally.settle_seconds:.0f} s "
        f"(real) after the drain; {tally.requested_after_closing} callbacks requested after closing",
        f"  calls (or their fates) the AMI link missed, counted from the queue_log: {report['unseen_by_service']}",
    ]
    if tally.last_usage:
        lines.append(f"  processes: {tally.usage_line()}")
    if tally.faults:
        lines.append(f"  faults: {'; '.join(tally.faults)}")
    lines.append(f"  logs: {workdir}")
    lines.append("INVARIANTS HOLD" if not failures else "INVARIANTS FAILED:\n" +
                 "\n".join(f"  - {failure}" for failure in failures))
    return "\n".join(lines)


def run_day(settings: Settings, options: DayOptions) -> int:
    return asyncio.run(Day(settings, options).run())

