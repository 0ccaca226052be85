from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from callcenter.cli import main
from callcenter.config import ConfigError, Settings, load_settings

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callcenter.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=env or {})
    return {p.key: str(p) for p in caught.value.problems}


def test_repository_file_is_valid_and_matches_the_documented_defaults() -> None:
    settings = load_settings(REPO / "config" / "callcenter.toml", environ={})
    assert settings.hotline.timezone == "Europe/Moscow"
    assert (settings.hours.open, settings.hours.close) == ("08:00", "20:00")
    assert len(settings.hours.days) == 7
    defaults = Settings()
    # The file documents the defaults: the service behaves the same without it (dates aside).
    assert settings.ami == defaults.ami
    assert settings.http == defaults.http


def test_missing_default_file_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).source == "defaults"


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_bad_time_zone(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, '[hotline]\ntimezone = "Europe/Moskva"\n'))
    assert "unknown time zone 'Europe/Moskva'" in found["hotline.timezone"]
    assert "IANA" in found["hotline.timezone"]


def test_end_before_start(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, '[hours]\nopen = "20:00"\nclose = "08:00"\n'))
    assert "closing time 08:00 is not after opening time 20:00" in found["hours.close"]


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, '[hours]\nclosed_date = ["2027-01-01"]\n'))
    assert "unknown key" in found["hours.closed_date"]
    assert "did you mean 'closed_dates'" in found["hours.closed_date"]


def test_unknown_section(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, '[hotlin]\nname = "x"\n'))
    assert "did you mean 'hotline'" in found["hotlin"]


def test_secret_written_into_the_file_is_refused(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, '[ami]\nsecret = "s3cr3t-value"\n'))
    assert "a secret is written into the file" in found["ami.secret"]
    assert "CALLCENTER_AMI_SECRET" in found["ami.secret"]
    # ...and the error message never echoes the secret itself.
    assert "s3cr3t-value" not in found["ami.secret"]


def test_placeholder_secret_is_allowed_and_the_environment_supplies_it(tmp_path: Path) -> None:
    path = write(tmp_path, '[ami]\nsecret = "${CALLCENTER_AMI_SECRET}"\n')
    assert load_settings(path, environ={"CALLCENTER_AMI_SECRET": "x1"}).ami.secret == "x1"


def test_wrong_types_and_bad_values_are_all_reported(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, '[http]\nport = "eighty"\n[ami]\nport = 70000\n'
                                        '[hours]\ndays = ["mon", "sunday"]\nclosed_dates = ["2027-13-01"]\n'
                                        'changed = ["2026-12-31 16:00-08:00"]\n'))
    assert "expected a whole number" in found["http.port"]
    assert "out of range" in found["ami.port"]
    assert "unknown weekday 'sunday'" in found["hours.days"]
    assert "not a date" in found["hours.closed_dates"]
    assert "closing time is not after opening time" in found["hours.changed"]


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[http]\nport = 8080\n")
    settings = load_settings(path, environ={
        "CALLCENTER_HTTP_PORT": "9090",
        "CALLCENTER_HOURS_CLOSED_DATES": "2027-01-01, 2027-01-07",
        "CALLCENTER_HOTLINE_SERVICE_LEVEL_TARGET": "0.9",
    })
    assert settings.http.port == 9090
    assert settings.hours.closed_dates == ["2027-01-01", "2027-01-07"]
    assert settings.hotline.service_level_target == 0.9


def test_redis_url_from_the_conventional_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert load_settings(path, environ={"REDIS_URL": "redis://h:1/2"}).redis.url == "redis://h:1/2"
    both = {"REDIS_URL": "redis://h:1/2", "CALLCENTER_REDIS_URL": "redis://n:3/0"}
    assert load_settings(path, environ=both).redis.url == "redis://n:3/0"


def test_bad_and_unknown_environment_variables(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, ""), env={"CALLCENTER_HTTP_PORT": "x", "CALLCENTER_HTTP_PROT": "1"})
    assert "expected a whole number, got 'x'" in found["CALLCENTER_HTTP_PORT"]
    assert "did you mean 'CALLCENTER_HTTP_PORT'" in found["CALLCENTER_HTTP_PROT"]


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, "[http\nport = 1\n"))
    assert any("not valid TOML" in text for text in found.values())


def test_check_config_command_lists_every_problem_and_exits_1(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[hotline]\ntimezone = "Mars/Olympus"\n[hours]\nopen = "8am"\n')
    assert main(["check-config", str(path)]) == 1
    out = capsys.readouterr().out
    assert "2 problem(s)" in out
    assert "hotline.timezone: unknown time zone 'Mars/Olympus'" in out
    assert "hours.open: '8am' is not a time HH:MM (hint: e.g. 08:00)" in out


def test_check_config_command_accepts_the_repository_file() -> None:
    result = subprocess.run([sys.executable, "-m", "callcenter", "check-config", "config/callcenter.toml"],
                            cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "configuration OK" in result.stdout
