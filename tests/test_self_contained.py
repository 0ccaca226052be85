"""A fresh clone needs nothing beside it: the tests and benchmarks read only files inside the repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

OUTSIDE = re.compile(r"REPO\.parent|\.\./shared|[\"']shared[\"']\s*/|parents\[(?:[2-9])\]")


def test_no_test_or_benchmark_names_a_path_outside_the_repository() -> None:
    offenders = []
    for path in [*REPO.joinpath("tests").rglob("*.py"), *REPO.joinpath("benchmarks").rglob("*.py")]:
        if path == Path(__file__).resolve():
            continue  # this file names the patterns it looks for
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            # tests/asterisk/pbx.py is two levels below the repository: parents[2] is the repository itself.
            if OUTSIDE.search(line) and not (path.name == "pbx.py" and "parents[2]" in line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_recorded_sessions_replay_in_a_clone_with_nothing_beside_it(tmp_path: Path) -> None:
    """The tests that read recordings, run in a copy of the tracked files alone (no ../shared next to it)."""
    clone = tmp_path / "clone"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    assert not (tmp_path / "shared").exists()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_replay_transcripts.py",
         "tests/test_protocol.py", "tests/test_replay_hotline_transcripts.py", "tests/test_ami_client.py"],
        cwd=clone, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout


def test_the_tests_refuse_to_flush_a_database_holding_someone_elses_data(tmp_path: Path) -> None:
    import redis as sync_redis

    from callcenter.storage import EmbeddedValkey

    server = EmbeddedValkey(durable=False)
    server.start()
    try:
        production = sync_redis.Redis.from_url(server.url)
        production.set("cb:precious", "a resident's callback")
        env = {key: value for key, value in os.environ.items()
               if key not in ("REDIS_URL", "CALLCENTER_TEST_REDIS_URL")}
        some_tests = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                      "tests/test_replay_hotline_transcripts.py"]
        # REDIS_URL, which operators export for production, is not the tests' database: it is left alone.
        result = subprocess.run(some_tests, cwd=REPO, capture_output=True, text=True, timeout=300,
                                env={**env, "REDIS_URL": server.url})
        assert result.returncode == 0, result.stdout[-2000:]
        assert production.get("cb:precious") == b"a resident's callback"
        # Named as the tests' database while it holds data they did not write: refused, nothing flushed.
        result = subprocess.run(some_tests, cwd=REPO, capture_output=True, text=True, timeout=300,
                                env={**env, "CALLCENTER_TEST_REDIS_URL": server.url})
        assert result.returncode == 4, result.stdout[-2000:]
        assert "did not write" in result.stdout + result.stderr
        assert production.get("cb:precious") == b"a resident's callback"
        production.close()
    finally:
        server.stop()
