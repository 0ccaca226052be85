"""The `callcenter` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence

from callcenter.config import ConfigError, Settings, load_settings
from callcenter.logs import configure_logging

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


def cmd_serve(args: argparse.Namespace) -> int:
    from callcenter.server import serve

    asyncio.run(serve(_with_logging(args)))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from callcenter.worker import run_worker

    run_worker(_with_logging(args), burst=args.burst)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from callcenter.supervisor import Supervisor

    return Supervisor(_with_logging(args), args.config).run()


def cmd_embedded_redis(args: argparse.Namespace) -> int:
    """Run the embedded Valkey server until SIGTERM/SIGINT (used by `run`, which owns its lifetime)."""
    from callcenter.storage import EmbeddedValkey

    _with_logging(args)
    server = EmbeddedValkey(args.data_dir, port=args.port)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    server.start()
    try:
        while signal.sigtimedwait({signal.SIGINT, signal.SIGTERM}, 1.0) is None:
            if not server.is_running():
                log.error("embedded valkey exited on its own")
                return 1
    finally:
        server.stop()
    return 0


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
    embedded = add("embedded-redis", cmd_embedded_redis, argparse.SUPPRESS)
    embedded.add_argument("--port", type=int, required=True)
    embedded.add_argument("--data-dir", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
