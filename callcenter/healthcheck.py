"""`callcenter healthcheck`: is the part this container runs healthy? Exit 0, or 1 with a one-line reason.

One image runs every part (`serve`, `worker`, `simulate`), so the check first tells which part it is looking
at: `--role`, or the command of the container's main process (PID 1, or the child of an init such as tini).
It then checks that part where it really is, with the same settings the part reads (`callcenter.config`: the
file and the `CALLCENTER_*` environment), never a fixed port:

- `serve` (and `run`): GET /healthz on `http.host`:`http.port` (127.0.0.1 when bound to 0.0.0.0) answers 200
  with `{"status": "ok"}`;
- `worker`: the store answers, and it holds a live RQ worker registration (`rq:workers`, not dead, not yet
  expired: RQ renews it with each heartbeat) made from this host by a process that is still running here
  (the one whose command told the role, when there is one);
- `simulate`: the PBX simulator's AMI port answers with the Asterisk Call Manager banner.

Docker runs the check in the container (`HEALTHCHECK`, or compose's `healthcheck`), so "this host" and
"this process" are the container's. Nothing is written anywhere: the check only reads.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from callcenter.config import ConfigError, Settings, load_settings

ROLES = ("serve", "worker", "simulate", "run")
DEFAULT_TIMEOUT = 3.0
AMI_BANNER = b"Asterisk Call Manager/"


class Unhealthy(Exception):
    """The reason the check failed, one line."""


@dataclass(frozen=True)
class Target:
    role: str
    pid: int | None = None  # the process whose command told the role (None: --role given without --pid)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", choices=ROLES,
                        help="the part to check (default: the command of the container's main process)")
    parser.add_argument("--pid", type=int,
                        help="the process whose command tells the role (default: PID 1, or its child under an "
                             "init such as tini)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds for each network step (default {DEFAULT_TIMEOUT:g})")


def role_of_command(argv: list[str]) -> str | None:
    """The `callcenter` subcommand in a process's argv: `callcenter serve`, `/usr/local/bin/python
    /usr/local/bin/callcenter worker`, `python -m callcenter --config F simulate`; None when it is not one."""
    for index, arg in enumerate(argv):
        is_script = Path(arg).name == "callcenter"
        is_module = arg == "callcenter" and index > 0 and argv[index - 1] == "-m"
        if not (is_script or is_module):
            continue
        rest = iter(argv[index + 1:])
        for word in rest:
            if word == "--config":
                next(rest, None)
            elif not word.startswith("-"):
                return word if word in ROLES else None
        return None
    return None


def _cmdline(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def detect(pid: int | None) -> Target:
    """The role from a process's command: the given one, else PID 1, else PID 1's children (an init's child)."""
    candidates = [pid] if pid is not None else [1]
    if pid is None:
        try:
            if role_of_command(_cmdline(1)) is None:
                candidates += _children(1)
        except OSError:
            pass
    for candidate in candidates:
        try:
            role = role_of_command(_cmdline(candidate))
        except OSError:
            continue
        if role is not None:
            return Target(role, candidate)
    where = f"process {pid}" if pid is not None else "PID 1 or its children"
    raise Unhealthy(f"cannot tell which part runs here: no `callcenter serve|worker|simulate|run` in {where}; "
                    "pass --role")


def _local_address(host: str) -> str:
    """Where to reach a server bound to `host` from inside its own container."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - a bind address being translated, not bound
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def check_http(settings: Settings, timeout: float) -> str:
    host = _local_address(settings.http.host)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{settings.http.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, body = response.status, response.read(4096)
    except urllib.error.HTTPError as exc:
        raise Unhealthy(f"{url} answered {exc.code}") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unhealthy(f"nothing answers on {url}: {reason}") from None
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if status != 200 or not isinstance(document, dict) or document.get("status") != "ok":
        raise Unhealthy(f"{url} answered {status} without {{\"status\": \"ok\"}}")
    return f"serve answers on {url}"


def _process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True  # no /proc: the signal said it exists
    return state not in ("Z", "X")


def check_worker(settings: Settings, timeout: float, pid: int | None) -> str:
    import redis
    from rq.worker_registration import REDIS_WORKER_KEYS

    if not settings.redis.url:
        raise Unhealthy("the worker has no store: set REDIS_URL (or redis.url)")
    client = redis.Redis.from_url(settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                  decode_responses=True)
    kwargs = client.connection_pool.connection_kwargs
    store = f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}/{kwargs.get('db', 0)}"
    hostname = socket.gethostname()
    try:
        client.ping()
        keys = sorted(k.decode() if isinstance(k, bytes) else str(k) for k in client.smembers(REDIS_WORKER_KEYS))
        pipeline = client.pipeline(transaction=False)
        for key in keys:
            pipeline.hgetall(key)
        records = pipeline.execute()
    except redis.RedisError as exc:
        raise Unhealthy(f"the store at {store} does not answer: {exc}") from None
    finally:
        client.close()
    mine = []
    for key, record in zip(keys, records, strict=True):
        if not record or "death" in record or record.get("hostname") != hostname:
            continue
        try:
            worker_pid = int(record.get("pid") or "")
        except ValueError:
            continue
        if pid is not None and worker_pid != pid:
            continue
        if _process_running(worker_pid):
            mine.append((key, worker_pid))
    if not mine:
        whose = f"by process {pid}" if pid is not None else "by a running process"
        raise Unhealthy(f"no live RQ worker registered {whose} of host {hostname} in the store at {store} "
                        f"({len(keys)} worker(s) registered there)")
    key, worker_pid = mine[0]
    return f"worker pid {worker_pid} is registered as {key} in the store at {store}"


def check_simulator(settings: Settings, timeout: float) -> str:
    host = _local_address(settings.simulator.host)
    port = settings.simulator.port
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            banner = sock.recv(64)
    except OSError as exc:
        raise Unhealthy(f"nothing answers on AMI {host}:{port}: {exc}") from None
    if not banner.startswith(AMI_BANNER):
        raise Unhealthy(f"{host}:{port} answered {banner[:40]!r}, not an AMI banner")
    return f"the PBX simulator answers AMI on {host}:{port}"


def check(args: argparse.Namespace) -> str:
    target = Target(args.role, args.pid) if args.role else detect(args.pid)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        raise Unhealthy(f"configuration: {exc.problems[0]}{more}") from None
    if target.role in ("serve", "run"):
        return check_http(settings, args.timeout)
    if target.role == "worker":
        return check_worker(settings, args.timeout, target.pid)
    return check_simulator(settings, args.timeout)


def run_healthcheck(args: argparse.Namespace) -> int:
    try:
        message = check(args)
    except Unhealthy as exc:
        reason = " ".join(str(exc).split())  # one line, whatever an exception's text holds
        print(f"unhealthy: {reason}", file=sys.stderr, flush=True)
        return 1
    print(f"healthy: {message}", flush=True)
    return 0
