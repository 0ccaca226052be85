"""The container packaging: `callcenter healthcheck` against real processes (a `callcenter serve` on a port of
its own, a `callcenter worker`, the PBX simulator), and the Dockerfile and compose.yaml read as Docker would
read them (no Docker engine runs here: see the README)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis
import redis.asyncio as aioredis
import yaml
from aiohttp import web

from callcenter.cli import build_parser
from callcenter.config import SECTIONS, load_settings
from callcenter.healthcheck import ROLES, role_of_command
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.supervisor import free_port
from tests.conftest import REPO


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_") and k != "REDIS_URL"}
    env.update(settings)
    return env


async def healthcheck(cwd: Path, env: Mapping[str, str], *args: str) -> tuple[int, str, str]:
    """`callcenter healthcheck ...` as Docker runs it: a process of its own; (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter", "healthcheck", *args, cwd=cwd, env=dict(env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def until_healthy(cwd: Path, env: Mapping[str, str], *args: str, limit: float = 30.0) -> str:
    last: tuple[int, str, str] = (1, "", "")
    async with asyncio.timeout(limit):
        while True:
            last = await healthcheck(cwd, env, *args)
            if last[0] == 0:
                return last[1]
            await asyncio.sleep(0.3)


def one_line_failure(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 1, (code, out, err)
    assert out == "" and err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("unhealthy: ")
    return err


async def start(cwd: Path, env: Mapping[str, str], *command: str) -> asyncio.subprocess.Process:
    """A part of the service as its own process, its log in `cwd` (a pipe nobody reads could fill and stop it)."""
    with (cwd / f"{command[0]}.log").open("ab") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callcenter", *command, cwd=cwd, env=dict(env),
            stdout=asyncio.subprocess.DEVNULL, stderr=log)


async def stop(process: asyncio.subprocess.Process, signum: int = signal.SIGTERM) -> None:
    if process.returncode is None:
        process.send_signal(signum)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


# -- which part the container runs ---------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "role"), [
    (["/usr/local/bin/python", "/usr/local/bin/callcenter", "serve"], "serve"),  # CMD ["callcenter", "serve"]
    (["callcenter", "worker"], "worker"),
    (["/usr/bin/python3", "-m", "callcenter", "--config", "/app/config/x.toml", "simulate"], "simulate"),
    (["python", "-m", "callcenter", "run"], "run"),
    (["callcenter", "user", "list"], None),
    (["/sbin/docker-init", "--", "callcenter", "serve"], "serve"),
    (["valkey-server", "--appendonly", "yes"], None),
    (["python", "worker.py", "serve"], None),  # not the callcenter command
])
def test_the_role_is_read_from_the_containers_command(argv: list[str], role: str | None) -> None:
    assert role_of_command(argv) == role


def test_every_role_is_a_command() -> None:
    assert set(ROLES) <= set(subcommands())


# -- serve: /healthz where the settings put it ---------------------------------------------------------------


@pytest.fixture
async def pbx() -> AsyncIterator[PbxSimulator]:
    sim = PbxSimulator(SimConfig(agents=2, secret="s", generate_traffic=False))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def other_service() -> AsyncIterator[int]:
    """Another program on this machine whose /healthz answers 200 (what fooled the fixed-port check)."""
    async def healthy(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/healthz", healthy)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


async def test_serve_is_checked_on_its_configured_port(tmp_path: Path, redis_url: str, redis: aioredis.Redis,
                                                       pbx: PbxSimulator, other_service: int) -> None:
    port = free_port()
    env = clean_env(REDIS_URL=redis_url, CALLCENTER_HTTP_PORT=str(port), CALLCENTER_AMI_HOST="127.0.0.1",
                    CALLCENTER_AMI_PORT=str(pbx.port), CALLCENTER_AMI_SECRET="s")
    # Nothing listens on the configured port: another service answering on its own port does not count.
    reason = one_line_failure(await healthcheck(tmp_path, env, "--role", "serve"))
    assert f"http://127.0.0.1:{port}/healthz" in reason and "nothing answers" in reason
    assert str(other_service) not in reason

    server = await start(tmp_path, env, "serve")
    try:
        out = await until_healthy(tmp_path, env, "--role", "serve")
        assert out == f"healthy: serve answers on http://127.0.0.1:{port}/healthz\n"
        # The role from the process's own command line, as from PID 1 in a container.
        assert (await healthcheck(tmp_path, env, "--pid", str(server.pid)))[0] == 0
        # Bound to every address (the image sets CALLCENTER_HTTP_HOST=0.0.0.0): checked on 127.0.0.1.
        code, out, _ = await healthcheck(tmp_path, {**env, "CALLCENTER_HTTP_HOST": "0.0.0.0"}, "--role", "serve")
        assert code == 0 and f"http://127.0.0.1:{port}/healthz" in out
        # The same check pointed at another port (the settings of another container) fails.
        elsewhere = free_port()
        reason = one_line_failure(await healthcheck(tmp_path, {**env, "CALLCENTER_HTTP_PORT": str(elsewhere)},
                                                    "--role", "serve"))
        assert f":{elsewhere}/healthz" in reason
    finally:
        await stop(server)
    assert server.returncode == 0
    reason = one_line_failure(await healthcheck(tmp_path, env, "--role", "serve"))
    assert "nothing answers" in reason


async def test_a_server_that_is_not_healthy_fails_the_check(tmp_path: Path) -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.Response(text="it works!")  # some web server, not this service

    app = web.Application()
    app.router.add_get("/healthz", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        reason = one_line_failure(await healthcheck(tmp_path, clean_env(CALLCENTER_HTTP_PORT=str(port)),
                                                    "--role", "serve"))
        assert 'without {"status": "ok"}' in reason
    finally:
        await runner.cleanup()


async def test_a_bad_configuration_is_a_one_line_failure(tmp_path: Path) -> None:
    reason = one_line_failure(await healthcheck(tmp_path, clean_env(CALLCENTER_HTTP_PORT="eighty"),
                                                "--role", "serve"))
    assert "CALLCENTER_HTTP_PORT" in reason


async def test_without_a_role_nor_a_callcenter_process_it_says_so(tmp_path: Path) -> None:
    sleeper = await asyncio.create_subprocess_exec("sleep", "30")
    try:
        reason = one_line_failure(await healthcheck(tmp_path, clean_env(), "--pid", str(sleeper.pid)))
        assert "pass --role" in reason
    finally:
        sleeper.kill()
        await sleeper.wait()


# -- worker: registered in its store by a live process of this host ------------------------------------------


async def test_the_worker_check_follows_a_real_worker(tmp_path: Path, redis_url: str, redis: aioredis.Redis) -> None:
    # `redis` flushed the store: only this test's workers are registered in it.
    store = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    env = clean_env(REDIS_URL=redis_url)
    reason = one_line_failure(await healthcheck(tmp_path, env, "--role", "worker"))
    assert "no live RQ worker" in reason

    worker = await start(tmp_path, env, "worker")
    try:
        out = await until_healthy(tmp_path, env, "--role", "worker")
        assert out.startswith(f"healthy: worker pid {worker.pid} is registered as rq:worker:")
        assert (await healthcheck(tmp_path, env, "--pid", str(worker.pid)))[0] == 0
        # Another process's registration is not this one's.
        reason = one_line_failure(await healthcheck(tmp_path, env, "--role", "worker", "--pid", "1"))
        assert "by process 1" in reason
        # The worker's store, not some other one.
        elsewhere = f"redis://127.0.0.1:{free_port()}/0"
        reason = one_line_failure(await healthcheck(tmp_path, {**env, "REDIS_URL": elsewhere}, "--role", "worker",
                                                    "--timeout", "1"))
        assert "does not answer" in reason
    finally:
        # kill -9: the worker cannot unregister; its registration stays until RQ's TTL runs out.
        await stop(worker, signal.SIGKILL)
    keys = store.smembers("rq:workers")
    assert any(store.hget(key, "pid") == str(worker.pid) for key in keys), "the dead worker's registration stays"
    reason = one_line_failure(await healthcheck(tmp_path, env, "--role", "worker"))
    assert "no live RQ worker" in reason

    # A worker that stops cleanly unregisters.
    worker = await start(tmp_path, env, "worker")
    try:
        await until_healthy(tmp_path, env, "--role", "worker")
    finally:
        await stop(worker)
    assert worker.returncode == 0
    one_line_failure(await healthcheck(tmp_path, env, "--pid", str(worker.pid), "--role", "worker"))
    store.close()


# -- the PBX simulator: its AMI port ---------------------------------------------------------------------------


async def test_the_simulator_check_reads_the_ami_banner(tmp_path: Path, pbx: PbxSimulator,
                                                        other_service: int) -> None:
    code, out, _ = await healthcheck(tmp_path, clean_env(CALLCENTER_SIMULATOR_PORT=str(pbx.port)),
                                     "--role", "simulate")
    assert code == 0 and f"127.0.0.1:{pbx.port}" in out
    reason = one_line_failure(await healthcheck(tmp_path, clean_env(CALLCENTER_SIMULATOR_PORT=str(other_service)),
                                                "--role", "simulate", "--timeout", "1"))
    assert str(other_service) in reason


# -- the Dockerfile ----------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in logical.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_the_images_health_check_is_callcenter_healthcheck() -> None:
    instructions = dockerfile_instructions()
    (healthcheck_line,) = [rest for keyword, rest in instructions if keyword == "HEALTHCHECK"]
    command = healthcheck_line.split("CMD", 1)[1].strip()
    assert command == '["callcenter", "healthcheck"]'
    assert "8080" not in healthcheck_line, "the check follows CALLCENTER_HTTP_PORT, not a fixed port"
    (cmd,) = [rest for keyword, rest in instructions if keyword == "CMD"]
    assert cmd == '["callcenter", "serve"]'
    # The check's `--timeout` steps fit in Docker's timeout for the whole check.
    timeout = re.search(r"--timeout=(\d+)s", healthcheck_line)
    assert timeout and int(timeout.group(1)) > 3


def test_what_the_image_copies_is_in_the_build_context() -> None:
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    assert ".env" in ignored, "compose's secrets (.env) never go into an image"
    for keyword, rest in dockerfile_instructions():
        if keyword != "COPY":
            continue
        *sources, _ = rest.split()
        if sources[0].startswith("--from="):  # from an earlier stage of the Dockerfile, not the build context
            stage = sources[0].removeprefix("--from=")
            assert any(k == "FROM" and r.endswith(f" AS {stage}") for k, r in dockerfile_instructions()), stage
            continue
        for source in sources:
            assert (REPO / source).exists(), source
            assert source not in ignored and source.split("/")[0] not in ignored, f"{source} is .dockerignored"


# -- compose.yaml -----------------------------------------------------------------------------------------------

INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?-(?P<default>[^}]*))?\}")
CALLCENTER_SERVICES = {"serve", "worker", "simulator"}


def compose() -> dict[str, Any]:
    document = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def interpolated(value: object) -> str:
    """What compose puts in the container when the variable is unset: the default after `:-`."""
    return INTERPOLATION.sub(lambda m: m["default"] or "", str(value))


def service_env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    assert isinstance(environment, dict), "environment as a mapping"
    return {name: interpolated(value) for name, value in environment.items()}


def test_compose_runs_the_store_the_service_the_worker_and_the_simulator() -> None:
    services = compose()["services"]
    assert set(services) == {"valkey"} | CALLCENTER_SERVICES
    commands = subcommands()
    for name in CALLCENTER_SERVICES:
        service = services[name]
        assert service["build"] == "." and service["image"] == services["serve"]["image"], name
        command = service["command"]
        assert command[0] == "callcenter" and command[1] in commands, f"{name}: {command}"
        build_parser().parse_args(command[1:])
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", "callcenter", "healthcheck"], f"{name}: {test}"
        health_args = build_parser().parse_args(test[2:])
        assert health_args.role == command[1], f"{name} checks {health_args.role} but runs {command[1]}"
        depends = service.get("depends_on", {})
        for needed, how in depends.items():
            assert needed in services and how["condition"] == "service_healthy"
    assert {"serve": {"valkey", "simulator"}, "worker": {"valkey", "simulator"}} == \
        {name: set(services[name]["depends_on"]) for name in ("serve", "worker")}
    valkey = services["valkey"]
    assert valkey["command"][:5] == ["valkey-server", "--appendonly", "yes", "--appendfsync", "always"]
    assert "valkey-cli" in valkey["healthcheck"]["test"]
    (data,) = valkey["volumes"]
    volume, _, path = data.partition(":")
    assert path == "/data" and volume in compose()["volumes"], "the store's data on a named volume"


def test_compose_environment_names_real_settings_with_working_values() -> None:
    services = compose()["services"]
    settings = {}
    for name in CALLCENTER_SERVICES:
        env = {"CALLCENTER_CONFIG": str(REPO / "config" / "callcenter.toml"), **service_env(services[name])}
        # load_settings rejects an unknown CALLCENTER_* name and a value of the wrong kind.
        settings[name] = load_settings(environ=env)
    serve, worker, simulator = settings["serve"], settings["worker"], settings["simulator"]
    for part in (serve, worker):
        assert part.redis.url.startswith("redis://valkey:"), "the store is the valkey service"
        assert part.ami.host == "simulator" and part.ami.port == simulator.simulator.port
        assert part.ami.secret == simulator.ami.secret and part.ami.secret
    assert simulator.simulator.host == "0.0.0.0", "reachable from the other containers"
    assert serve.http.host == "0.0.0.0"
    (published,) = services["serve"]["ports"]
    host_address, _, container_port = published.split(":")
    assert host_address == "127.0.0.1" and int(container_port) == serve.http.port
    assert serve.reports.queue_log == simulator.simulator.queue_log
    log_volume = lambda name: next(v.split(":")[0] for v in services[name]["volumes"]  # noqa: E731
                                   if v.split(":")[1] == str(Path(serve.reports.queue_log).parent))
    assert log_volume("serve") == log_volume("simulator"), "the simulator's queue_log reaches the service"
    for volume in {v.split(":")[0] for name in CALLCENTER_SERVICES for v in services[name].get("volumes", [])}:
        assert volume in compose()["volumes"]


def test_compose_holds_no_secret_only_placeholders() -> None:
    secret_names = {f"CALLCENTER_{section.upper()}_{f.name.upper()}"
                    for section, kind in SECTIONS.items() for f in dataclasses.fields(kind)
                    if f.metadata.get("secret")}
    text = (REPO / "compose.yaml").read_text(encoding="utf-8")
    seen = 0
    for service in compose()["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if name in secret_names or "SECRET" in name or "TOKEN" in name or "PASSWORD" in name:
                seen += 1
                match = INTERPOLATION.fullmatch(str(value))
                assert match and match["name"] == name, f"{name} comes from the environment or .env"
                assert not match["default"] or "change-me" in match["default"], f"{name}: a placeholder only"
            assert "redis://:" not in str(value) and "@" not in str(value), f"{name}: no credentials in a URL"
    assert seen >= 3
    assert "simulator-only-change-me" in text
