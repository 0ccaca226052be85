"""Settings: `config/callcenter.toml`, overridden by `CALLCENTER_<SECTION>_<KEY>` environment variables.

Every problem is collected (not just the first) so that `callcenter check-config` can show them all at once,
each with the key it concerns and a hint. Secrets are never read from the file: a secret field takes its value
from the environment only, and a value written into the file is itself an error.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENV_PREFIX = "CALLCENTER_"
# Environment variables that steer the loader itself rather than naming a setting.
META_ENV = {"CALLCENTER_CONFIG", "CALLCENTER_FAULT_PAUSE", "CALLCENTER_FAULT_FILE", "CALLCENTER_TIMEBASE",
            "CALLCENTER_PROFILE", "CALLCENTER_TRACEMALLOC"}
DEFAULT_CONFIG_PATH = Path("config/callcenter.toml")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A value that plainly is a placeholder may stand in the file where a secret goes.
PLACEHOLDER = re.compile(r"^(|\$\{?[A-Z0-9_]+\}?|<[^>]*>|changeme|CHANGE_ME|set-in-environment)$")


def setting(default: Any, hint: str, *, secret: bool = False) -> Any:
    """A field of a settings section, with the hint shown when its value is wrong."""
    metadata = {"hint": hint, "secret": secret}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class HotlineSettings:
    name: str = setting("Горячая линия социальной защиты", "the name callers and operators see")
    number: str = setting("+74950000000", "the hotline's public number, E.164")
    timezone: str = setting("Europe/Moscow", "an IANA time zone name, e.g. Europe/Moscow")
    queue: str = setting("hotline", "the Asterisk queue name (queues.conf section)")
    service_level_seconds: int = setting(20, "answer threshold for the service level, in seconds (> 0)")
    service_level_target: float = setting(0.8, "share of calls to answer within the threshold, 0..1")
    long_wait_alert_seconds: int = setting(120, "the dashboard marks a caller waiting longer than this, seconds (> 0)")
    abandon_alert_share: float = setting(0.1, "the dashboard marks abandoned calls above this share of the day's, "
                                         "0..1")


@dataclass(frozen=True)
class HoursSettings:
    open: str = setting("08:00", "opening time HH:MM, local to hotline.timezone")
    close: str = setting("20:00", "closing time HH:MM after the opening time (24:00: open until midnight)")
    days: list[str] = setting(list(WEEKDAYS), "open weekdays, from mon tue wed thu fri sat sun")
    closed_dates: list[str] = setting([], "dates the hotline is closed, YYYY-MM-DD")
    changed: list[str] = setting([], "changed hours for a date, 'YYYY-MM-DD HH:MM-HH:MM'")


@dataclass(frozen=True)
class AmiSettings:
    host: str = setting("", "Asterisk's AMI address; empty runs the built-in PBX simulator")
    port: int = setting(5038, "AMI TCP port, 1..65535")
    username: str = setting("callcenter", "the AMI user from manager.conf")
    secret: str = setting("", "set CALLCENTER_AMI_SECRET in the environment", secret=True)
    connect_timeout: float = setting(5.0, "seconds to wait for the TCP connect and the banner (> 0)")
    action_timeout: float = setting(10.0, "seconds to wait for an action's response (> 0)")
    ping_interval: float = setting(10.0, "seconds between keep-alive Pings (> 0)")


@dataclass(frozen=True)
class IvrSettings:
    allowed_addresses: list[str] = setting(["127.0.0.1", "::1"],
                                           "PBX addresses that may call /api/ivr/* without a token")
    token: str = setting("", "set CALLCENTER_IVR_TOKEN in the environment (and in Asterisk's)", secret=True)


@dataclass(frozen=True)
class CallbackSettings:
    mode: str = setting("operator_first", "operator_first (an operator is on the line first) or resident_first")
    placeholder: bool = setting(True, "hold the resident's place in the Asterisk queue while the callback waits")
    allowed_prefixes: list[str] = setting(["+7"], "E.164 prefixes the hotline may call back, e.g. +7")
    default_region: str = setting("RU", "region for numbers written without a country code")
    allowed_regions: list[str] = setting(["RU"], "regions (libphonenumber's codes, e.g. RU) whose numbers may be "
                                                 "called back: +7 7xx is Kazakhstan")
    allowed_types: list[str] = setting(["MOBILE", "FIXED_LINE", "FIXED_LINE_OR_MOBILE"],
                                       "number types that may be called back, from MOBILE FIXED_LINE "
                                       "FIXED_LINE_OR_MOBILE TOLL_FREE PREMIUM_RATE SHARED_COST VOIP "
                                       "PERSONAL_NUMBER PAGER UAN VOICEMAIL UNKNOWN")
    own_numbers: list[str] = setting([], "the hotline's other numbers (hotline.number is always included), "
                                         "never called back, e.g. +74957770000")
    max_attempts: int = setting(3, "dial attempts before a callback fails (>= 1)")
    retry_minutes_no_answer: float = setting(10.0, "minutes before trying again after no answer (> 0)")
    retry_minutes_busy: float = setting(5.0, "minutes before trying again after busy (> 0)")
    retry_minutes_failed: float = setting(10.0, "minutes before trying again after congestion or a failure (> 0)")
    initial_delay_seconds: float = setting(0.0, "wait this long after a request before dialling (>= 0)")
    attempt_timeout_minutes: float = setting(15.0, "an attempt with no outcome after this long is closed (> 0)")
    carry_over: bool = setting(True, "at closing, keep what is left for the next working day (else expire it)")
    per_number_daily_limit: int = setting(5, "requests accepted per number per day (>= 1)")
    per_address_daily_limit: int = setting(20, "web requests accepted per client address per day (>= 1)")
    placeholder_hours: float = setting(12.0, "longest a placeholder may wait in the queue, hours (> 0)")
    sweep_seconds: float = setting(5.0, "how often to look for attempts whose outcome never came, seconds (> 0)")


@dataclass(frozen=True)
class CaseSettings:
    number_pattern: str = setting(r"^[0-9]{6,12}$", "a regex for case numbers (digits only, so the IVR can take them)")
    statuses_file: str = setting("config/case_statuses.toml", "the status vocabulary: codes, texts, prompts")
    max_failures: int = setting(5, "failed verifications within the window that lock a key (>= 1)")
    anonymous_line_max_failures: int = setting(20, "failed IVR verifications within the window that lock the "
                                               "telephone line withheld-number callers share (>= 1)")
    failure_window_minutes: float = setting(15.0, "the window for counting failures, minutes (> 0)")
    lock_minutes: float = setting(30.0, "how long a locked case number / caller / address stays locked (> 0)")
    audit_retention_days: int = setting(365, "how long look-up audit records are kept, days (>= 1)")
    speech_text: bool = setting(False, "send the Russian status text to the IVR (when a speech engine is set up)")


@dataclass(frozen=True)
class RedisSettings:
    url: str = setting("", "redis://host:port/db; empty starts the embedded Valkey server")
    data_dir: str = setting("var/valkey", "where the embedded server keeps its AOF and RDB files")


@dataclass(frozen=True)
class HttpSettings:
    host: str = setting("127.0.0.1", "the address the web service binds to")
    port: int = setting(8080, "the web service's TCP port, 1..65535")
    max_body_bytes: int = setting(65536, "largest request body accepted, in bytes (> 0)")
    session_hours: float = setting(12.0, "how long a staff login lasts, hours (> 0)")
    trusted_proxies: list[str] = setting([], "reverse proxies whose X-Forwarded-For names the resident's address, "
                                         "e.g. 10.0.0.2 or 10.0.0.0/24 (empty: none)")
    session_check_seconds: float = setting(10.0, "how often an open staff stream checks that its login still "
                                           "stands (a password changed or an account disabled elsewhere), seconds "
                                           "(> 0)")
    allowed_origins: list[str] = setting([], "other sites whose pages may post to the residents' endpoints, e.g. "
                                         "https://portal.example.ru (empty: this site only)")


@dataclass(frozen=True)
class ReportSettings:
    retention_days: float = setting(400.0, "days the raw facts behind the day reports are kept (> 0)")
    queue_log: str = setting("", "Asterisk's queue_log file (e.g. /var/log/asterisk/queue_log), read to complete "
                             "the reports and the callbacks' outcomes with what happened while the AMI link was "
                             "down; empty: off")


@dataclass(frozen=True)
class VideoSettings:
    grace_seconds: float = setting(60.0, "how long a participant who dropped may rejoin, seconds (> 0)")
    live_sessions_per_address: int = setting(2, "video sessions one address may have going at once (>= 1)")
    sessions_per_address_hour: int = setting(5, "video sessions one address may start in a clock hour (>= 1)")
    offer_seconds: float = setting(30.0, "how long an interpreter has to accept a session, seconds (> 0)")
    token_hours: float = setting(4.0, "how long a resident's session token is valid, hours (> 0)")
    operator_with_interpreter: bool = setting(True, "bring in an operator as soon as the interpreter joins "
                                              "(false: when the interpreter asks for one)")
    average_minutes: float = setting(12.0, "typical length of a sign-language session, minutes, for the wait "
                                     "shown to residents (> 0)")
    recordings: str = setting("var/recordings", "directory for recordings made with consent ('' = never record)")
    retention_days: float = setting(30.0, "days recordings and session records are kept (> 0)")
    stun_urls: list[str] = setting([], "STUN servers for residents' browsers, e.g. stun:stun.example.org:3478")
    turn_urls: list[str] = setting([], "TURN servers (coturn) for residents behind strict NAT, "
                                   "e.g. turn:turn.example.org:3478?transport=udp")
    turn_username: str = setting("", "the TURN user name")
    turn_credential: str = setting("", "the TURN password (CALLCENTER_VIDEO_TURN_CREDENTIAL)", secret=True)
    host_addresses: list[str] = setting([], "addresses the service offers as ICE candidates (empty: all "
                                        "interfaces, or 127.0.0.1 when there is no other)")
    forwarding: bool = setting(True, "forward encoded media (false: decode and re-encode every stream, "
                               "5-10x the CPU; for comparison only)")


@dataclass(frozen=True)
class SoftphoneSettings:
    websocket_url: str = setting("", "the SIP WebSocket the operators' browsers register on, e.g. "
                                 "wss://pbx.example.org:8089/ws (ws:// only on loopback); empty: no softphone")
    sip_domain: str = setting("", "the domain of the operators' SIP URIs (sip:101@domain); empty: the host of "
                              "websocket_url")
    secret: str = setting("", "set CALLCENTER_SOFTPHONE_SECRET in the environment: each operator's SIP password "
                          "is derived from it (HMAC), and `callcenter asterisk-config` writes the same", secret=True)
    ice_servers: list[str] = setting([], "STUN/TURN servers for the operators' browsers, e.g. "
                                     "stun:stun.example.org:3478 (empty: host candidates only, a LAN)")
    wrapup_seconds: int = setting(30, "after-call work after each call, seconds (0: none)")
    dispositions: list[str] = setting(["Консультация", "Запись на приём", "Статус дела", "Жалоба",
                                       "Ошибочный звонок", "Другое"], "what an operator chooses after a call")
    quick_connects: list[str] = setting(["Старший смены=100", "Вторая линия=200", "Сурдопереводчик=300"],
                                        "blind-transfer targets, 'name=number' (the operators' dialplan "
                                        "context must reach the number)")
    ring_timeout_seconds: int = setting(15, "how long the page rings before counting the call missed (> 0; "
                                        "queues.conf `timeout` ends it on the PBX side)")


@dataclass(frozen=True)
class SimulatorSettings:
    host: str = setting("127.0.0.1", "the address the built-in PBX simulator listens on")
    port: int = setting(5039, "the simulator's AMI port, 1..65535")
    agents: int = setting(18, "simulated operators logged in to the queue (>= 0)")
    calls_per_day: int = setting(3000, "simulated calls in a working day (>= 0)")
    mean_handle_seconds: float = setting(180.0, "mean simulated call length in seconds (> 0)")
    mean_patience_seconds: float = setting(390.0, "mean time a simulated caller waits before hanging up (> 0)")
    any_hour: bool = setting(True, "take simulated calls outside working hours too, at the day's mean rate")
    acceleration: float = setting(1.0, "simulated seconds per real second (> 0)")
    seed: int = setting(0, "random seed; the same seed gives the same day")
    resident_answer_probability: float = setting(0.85, "chance a resident answers a callback, 0..1")
    originate_log: str = setting("", "append every Originate received to this file (JSON lines); empty: off")
    callback_share: float = setting(0.0, "share of simulated callers who, tired of waiting, press 2 for a "
                                    "callback instead of hanging up, 0..1")
    callback_url: str = setting("", "where the simulated dialplan requests those callbacks (/api/ivr/callback)")
    stats_file: str = setting("", "write what the simulator counted to this JSON file when it stops")
    traffic_until: float = setting(0.0, "no new simulated callers after this epoch second (0: no limit)")
    queue_log: str = setting("", "write app_queue's queue_log lines to this file, as Asterisk does; empty: off")
    trace: str = setting("", "play a real call centre's logged day instead of drawing calls (the Anonymous Bank "
                             "format, .tsv or .tsv.gz); empty: off")
    trace_date: str = setting("", "the logged day to play, YYMMDD as in the log (e.g. 990215)")


@dataclass(frozen=True)
class LoggingSettings:
    level: str = setting("INFO", "DEBUG, INFO, WARNING or ERROR")
    format: str = setting("auto", "auto (text on a terminal, JSON otherwise), text or json")


@dataclass(frozen=True)
class Settings:
    hotline: HotlineSettings = field(default_factory=HotlineSettings)
    hours: HoursSettings = field(default_factory=HoursSettings)
    ami: AmiSettings = field(default_factory=AmiSettings)
    ivr: IvrSettings = field(default_factory=IvrSettings)
    callbacks: CallbackSettings = field(default_factory=CallbackSettings)
    cases: CaseSettings = field(default_factory=CaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    video: VideoSettings = field(default_factory=VideoSettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    softphone: SoftphoneSettings = field(default_factory=SoftphoneSettings)
    simulator: SimulatorSettings = field(default_factory=SimulatorSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    source: str = "defaults"

    def replace(self, section: str, **values: Any) -> Settings:
        """A copy with some values of one section changed (tests and `run` use it)."""
        updated = dataclasses.replace(getattr(self, section), **values)
        return dataclasses.replace(self, **{section: updated})


SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in dataclasses.fields(Settings)
    if f.name != "source"
}


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" + (f" (hint: {self.hint})" if self.hint else "")


class ConfigError(Exception):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def _suggest(name: str, choices: list[str], list_all: bool = True) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    known = ", ".join(sorted(choices)) if list_all else "see config/callcenter.toml"
    return f"did you mean '{close[0]}'? known: {known}" if close else f"known: {known}"


def _coerce(raw: Any, kind: Any, *, from_env: bool) -> Any:
    """Turn a TOML value (or an environment string) into the field's type; ValueError when it cannot."""
    origin = get_origin(kind)
    if origin is list:
        (item_kind,) = get_args(kind)
        if from_env and isinstance(raw, str):
            raw = [part.strip() for part in raw.split(",") if part.strip()]
        if not isinstance(raw, list):
            raise ValueError("expected a list")
        return [_coerce(item, item_kind, from_env=from_env) for item in raw]
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if from_env and isinstance(raw, str) and raw.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return raw.lower() in {"1", "true", "yes", "on"}
        raise ValueError("expected true or false")
    if kind is int:
        if isinstance(raw, bool):
            raise ValueError("expected a whole number")
        if isinstance(raw, int):
            return raw
        if from_env and isinstance(raw, str) and re.fullmatch(r"[+-]?\d+", raw.strip()):
            return int(raw)
        raise ValueError("expected a whole number")
    if kind is float:
        if isinstance(raw, bool):
            raise ValueError("expected a number")
        if isinstance(raw, int | float):
            return float(raw)
        if from_env and isinstance(raw, str):
            try:
                return float(raw)
            except ValueError:
                pass
        raise ValueError("expected a number")
    if kind is str:
        if isinstance(raw, str):
            return raw
        raise ValueError("expected a string")
    raise TypeError(f"unsupported setting type {kind!r}")


def parse_hhmm(text: str) -> time:
    """'08:00' -> 08:00; '24:00' (a closing time: open until midnight) -> the last instant of the day."""
    if text.strip() == "24:00":
        return time.max
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a time HH:MM")
    return time(int(match.group(1)), int(match.group(2)))


def parse_changed_hours(text: str) -> tuple[date, time, time]:
    """'2026-12-31 08:00-16:00' -> (date, open, close)."""
    match = re.fullmatch(r"\s*(\d{4}-\d{2}-\d{2})\s+(\S+)-(\S+)\s*", text)
    if not match:
        raise ValueError(f"'{text}' is not 'YYYY-MM-DD HH:MM-HH:MM'")
    day = date.fromisoformat(match.group(1))
    opening, closing = parse_hhmm(match.group(2)), parse_hhmm(match.group(3))
    if closing <= opening:
        raise ValueError(f"'{text}': closing time is not after opening time")
    return day, opening, closing


def _validate(settings: Settings) -> list[ConfigProblem]:
    """Checks that span more than one value's type."""
    problems: list[ConfigProblem] = []

    def check(key: str, ok: bool, message: str, hint: str) -> None:
        if not ok:
            problems.append(ConfigProblem(key, message, hint))

    try:
        ZoneInfo(settings.hotline.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            ConfigProblem("hotline.timezone", f"unknown time zone '{settings.hotline.timezone}'",
                          "an IANA name such as Europe/Moscow")
        )
    check("hotline.service_level_seconds", settings.hotline.service_level_seconds > 0,
          "must be positive", "e.g. 20")
    check("hotline.service_level_target", 0 < settings.hotline.service_level_target <= 1,
          "must be a share between 0 and 1", "e.g. 0.8 for 80 %")
    opening = closing = None
    for key in ("open", "close"):
        try:
            parsed = parse_hhmm(getattr(settings.hours, key))
        except ValueError as exc:
            problems.append(ConfigProblem(f"hours.{key}", str(exc), "e.g. 08:00"))
            continue
        if key == "open":
            opening = parsed
        else:
            closing = parsed
    if opening is not None and closing is not None and closing <= opening:
        problems.append(ConfigProblem("hours.close", f"closing time {closing:%H:%M} is not after opening "
                                      f"time {opening:%H:%M}", "hours must lie within one day"))
    for day in settings.hours.days:
        check("hours.days", day in WEEKDAYS, f"unknown weekday '{day}'", _suggest(day, list(WEEKDAYS)))
    for text in settings.hours.closed_dates:
        try:
            date.fromisoformat(text)
        except ValueError:
            problems.append(ConfigProblem("hours.closed_dates", f"'{text}' is not a date", "YYYY-MM-DD"))
    for text in settings.hours.changed:
        try:
            parse_changed_hours(text)
        except ValueError as exc:
            problems.append(ConfigProblem("hours.changed", str(exc), "e.g. '2026-12-31 08:00-16:00'"))
    for key, port in (("ami.port", settings.ami.port), ("http.port", settings.http.port),
                      ("simulator.port", settings.simulator.port)):
        check(key, 1 <= port <= 65535, f"port {port} is out of range", "1..65535")
    for key in ("connect_timeout", "action_timeout", "ping_interval"):
        check(f"ami.{key}", getattr(settings.ami, key) > 0, "must be positive", "seconds, e.g. 5")
    check("redis.url", settings.redis.url == "" or
          settings.redis.url.startswith(("redis://", "rediss://", "unix://")),
          f"'{settings.redis.url}' is not a Redis URL", "redis://127.0.0.1:6379/0, or empty for embedded")
    for key, addresses in (("ivr.allowed_addresses", settings.ivr.allowed_addresses),
                           ("http.trusted_proxies", settings.http.trusted_proxies)):
        for address in addresses:
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError:
                problems.append(ConfigProblem(key, f"'{address}' is not an address or network",
                                              "e.g. 10.0.0.5 or 10.0.0.0/24"))
    for key in ("live_sessions_per_address", "sessions_per_address_hour"):
        check(f"video.{key}", getattr(settings.video, key) >= 1, "must be at least 1", "e.g. 2")
    check("http.session_check_seconds", settings.http.session_check_seconds > 0, "must be positive", "e.g. 10")
    check("hotline.long_wait_alert_seconds", settings.hotline.long_wait_alert_seconds > 0, "must be positive",
          "e.g. 120")
    check("hotline.abandon_alert_share", 0 < settings.hotline.abandon_alert_share < 1, "must be between 0 and 1",
          "e.g. 0.1")
    for origin in settings.http.allowed_origins:
        parts = urlsplit(origin)
        check("http.allowed_origins", parts.scheme in {"http", "https"} and bool(parts.netloc)
              and parts.path in {"", "/"}, f"'{origin}' is not a site's origin", "e.g. https://portal.example.ru")
    cb = settings.callbacks
    check("callbacks.mode", cb.mode in {"operator_first", "resident_first"}, f"unknown mode '{cb.mode}'",
          "operator_first or resident_first")
    check("callbacks.max_attempts", cb.max_attempts >= 1, "must be at least 1", "e.g. 3")
    for key in ("retry_minutes_no_answer", "retry_minutes_busy", "retry_minutes_failed", "attempt_timeout_minutes",
                "placeholder_hours", "sweep_seconds"):
        check(f"callbacks.{key}", getattr(cb, key) > 0, "must be positive", "e.g. 10")
    check("callbacks.initial_delay_seconds", cb.initial_delay_seconds >= 0, "must not be negative", "e.g. 0")
    for key in ("per_number_daily_limit", "per_address_daily_limit"):
        check(f"callbacks.{key}", getattr(cb, key) >= 1, "must be at least 1", "e.g. 5")
    for prefix in cb.allowed_prefixes:
        check("callbacks.allowed_prefixes", bool(re.fullmatch(r"\+\d{1,6}", prefix)),
              f"'{prefix}' is not an E.164 prefix", "e.g. +7 or +7495")
    problems.extend(_dial_policy_problems(cb))
    try:
        re.compile(settings.cases.number_pattern)
    except re.error as exc:
        problems.append(ConfigProblem("cases.number_pattern", f"not a regular expression: {exc}", "e.g. ^[0-9]{6,12}$"))
    check("cases.max_failures", settings.cases.max_failures >= 1, "must be at least 1", "e.g. 5")
    check("cases.anonymous_line_max_failures", settings.cases.anonymous_line_max_failures >= 1,
          "must be at least 1", "e.g. 20")
    for key in ("failure_window_minutes", "lock_minutes"):
        check(f"cases.{key}", getattr(settings.cases, key) > 0, "must be positive", "minutes, e.g. 15")
    check("cases.audit_retention_days", settings.cases.audit_retention_days >= 1, "must be at least 1", "e.g. 365")
    check("http.max_body_bytes", settings.http.max_body_bytes > 0, "must be positive", "e.g. 65536")
    check("http.session_hours", settings.http.session_hours > 0, "must be positive", "e.g. 12")
    check("reports.retention_days", settings.reports.retention_days > 0, "must be positive", "e.g. 400")
    for key in ("grace_seconds", "offer_seconds", "token_hours", "average_minutes", "retention_days"):
        check(f"video.{key}", getattr(settings.video, key) > 0, "must be positive", "e.g. 30")
    for url in settings.video.stun_urls + settings.video.turn_urls:
        check("video.stun_urls" if url.startswith("stun") else "video.turn_urls",
              bool(re.fullmatch(r"(stuns?|turns?):[^\s]+", url)), f"'{url[:60]}' is not a STUN/TURN URL",
              "e.g. turn:turn.example.org:3478?transport=udp")
    problems.extend(_softphone_problems(settings.softphone))
    check("simulator.agents", settings.simulator.agents >= 0, "must not be negative", "e.g. 8")
    check("simulator.calls_per_day", settings.simulator.calls_per_day >= 0, "must not be negative",
          "e.g. 3000")
    check("simulator.acceleration", settings.simulator.acceleration > 0, "must be positive", "e.g. 60")
    for key in ("mean_handle_seconds", "mean_patience_seconds"):
        check(f"simulator.{key}", getattr(settings.simulator, key) > 0, "must be positive", "seconds, e.g. 180")
    check("logging.level", settings.logging.level.upper() in {"DEBUG", "INFO", "WARNING", "ERROR"},
          f"unknown level '{settings.logging.level}'", "DEBUG, INFO, WARNING or ERROR")
    check("logging.format", settings.logging.format in {"auto", "text", "json"},
          f"unknown format '{settings.logging.format}'", "auto, text or json")
    return problems


def _softphone_problems(sp: SoftphoneSettings) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    if sp.websocket_url and not re.fullmatch(r"wss?://[^\s/]+(/\S*)?", sp.websocket_url):
        problems.append(ConfigProblem("softphone.websocket_url", f"'{sp.websocket_url[:60]}' is not a ws:// or "
                                      "wss:// URL", "e.g. wss://pbx.example.org:8089/ws"))
    for url in sp.ice_servers:
        if not re.fullmatch(r"(stuns?|turns?):[^\s]+", url):
            problems.append(ConfigProblem("softphone.ice_servers", f"'{url[:60]}' is not a STUN/TURN URL",
                                          "e.g. stun:stun.example.org:3478"))
    if sp.wrapup_seconds < 0:
        problems.append(ConfigProblem("softphone.wrapup_seconds", "must not be negative", "e.g. 30"))
    if sp.ring_timeout_seconds <= 0:
        problems.append(ConfigProblem("softphone.ring_timeout_seconds", "must be positive", "e.g. 15"))
    if not sp.dispositions:
        problems.append(ConfigProblem("softphone.dispositions", "needs at least one", "e.g. [\"Консультация\"]"))
    for item in sp.quick_connects:
        name, sep, number = item.partition("=")
        if not sep or not name.strip() or not re.fullmatch(r"\+?[0-9*#]{1,20}", number.strip()):
            problems.append(ConfigProblem("softphone.quick_connects", f"'{item[:60]}' is not 'name=number'",
                                          "e.g. 'Старший смены=100'"))
    return problems


def _dial_policy_problems(cb: CallbackSettings) -> list[ConfigProblem]:
    """What the hotline may dial: regions and number types as libphonenumber names them, own numbers."""
    import phonenumbers

    from callcenter.callbacks.phone import NUMBER_TYPES, PhoneError, parse

    problems: list[ConfigProblem] = []
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    for key, codes in (("default_region", [cb.default_region]), ("allowed_regions", cb.allowed_regions)):
        for code in codes:
            if code not in phonenumbers.SUPPORTED_REGIONS:
                problems.append(ConfigProblem(f"callbacks.{key}", f"unknown region '{code}'",
                                              _suggest(code.upper(), regions, list_all=False) +
                                              " (ISO 3166 codes in capitals, e.g. RU)"))
    if not cb.allowed_regions:
        problems.append(ConfigProblem("callbacks.allowed_regions", "is empty: nothing could be called back",
                                      "e.g. [\"RU\"]"))
    for name in cb.allowed_types:
        if name not in NUMBER_TYPES:
            problems.append(ConfigProblem("callbacks.allowed_types", f"unknown number type '{name}'",
                                          _suggest(name.upper(), list(NUMBER_TYPES))))
    if not cb.allowed_types:
        problems.append(ConfigProblem("callbacks.allowed_types", "is empty: nothing could be called back",
                                      "e.g. [\"MOBILE\", \"FIXED_LINE\", \"FIXED_LINE_OR_MOBILE\"]"))
    region = cb.default_region if cb.default_region in phonenumbers.SUPPORTED_REGIONS else "RU"
    for number in cb.own_numbers:
        try:
            parse(number, region)
        except PhoneError:
            problems.append(ConfigProblem("callbacks.own_numbers", f"'{number[:32]}' is not a valid phone number",
                                          "E.164, e.g. +74957770000"))
    return problems


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the file (defaults when the default file is absent), apply the environment, validate.

    Raises ConfigError listing every problem found.
    """
    env = os.environ if environ is None else environ
    explicit = path is not None or bool(env.get("CALLCENTER_CONFIG"))
    config_path = Path(path or env.get("CALLCENTER_CONFIG") or DEFAULT_CONFIG_PATH)
    problems: list[ConfigProblem] = []
    document: dict[str, Any] = {}
    if config_path.is_file():
        try:
            document = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError([ConfigProblem(str(config_path), f"not valid TOML: {exc}",
                                             "check quotes and brackets")]) from exc
    elif explicit:
        raise ConfigError([ConfigProblem(str(config_path), "file not found", "give an existing file")])

    for name in document:
        if name not in SECTIONS:
            problems.append(ConfigProblem(name, "unknown section", _suggest(name, list(SECTIONS))))

    sections: dict[str, Any] = {}
    for section_name, section_type in SECTIONS.items():
        raw_section = document.get(section_name, {})
        if not isinstance(raw_section, dict):
            problems.append(ConfigProblem(section_name, "must be a table", f"write [{section_name}]"))
            raw_section = {}
        hints = get_type_hints(section_type)
        fields = {f.name: f for f in dataclasses.fields(section_type)}
        for key in raw_section:
            if key not in fields:
                problems.append(ConfigProblem(f"{section_name}.{key}", "unknown key",
                                              _suggest(key, list(fields))))
        values: dict[str, Any] = {}
        for name, spec in fields.items():
            full_key = f"{section_name}.{name}"
            env_name = f"{ENV_PREFIX}{section_name.upper()}_{name.upper()}"
            hint = spec.metadata.get("hint", "")
            if name in raw_section:
                raw = raw_section[name]
                if spec.metadata.get("secret"):
                    if not (isinstance(raw, str) and PLACEHOLDER.match(raw)):
                        problems.append(ConfigProblem(full_key, "a secret is written into the file",
                                                      f"remove it and set {env_name} in the environment"))
                else:
                    try:
                        values[name] = _coerce(raw, hints[name], from_env=False)
                    except ValueError as exc:
                        problems.append(ConfigProblem(full_key, f"{exc}, got {raw!r}", hint))
            if env_name in env:
                try:
                    values[name] = _coerce(env[env_name], hints[name], from_env=True)
                except ValueError as exc:
                    problems.append(ConfigProblem(env_name, f"{exc}, got {env[env_name]!r}", hint))
        sections[section_name] = section_type(**values)

    # REDIS_URL is the conventional variable (RQ and most tooling read it); the namespaced one wins.
    if env.get("REDIS_URL") and f"{ENV_PREFIX}REDIS_URL" not in env:
        sections["redis"] = dataclasses.replace(sections["redis"], url=env["REDIS_URL"])

    known_env = {f"{ENV_PREFIX}{s.upper()}_{f.name.upper()}"
                 for s, t in SECTIONS.items() for f in dataclasses.fields(t)}
    for name in env:
        if name.startswith(ENV_PREFIX) and name not in known_env and name not in META_ENV:
            problems.append(ConfigProblem(name, "unknown setting in the environment",
                                          _suggest(name, sorted(known_env), list_all=False)))

    settings = Settings(**sections, source=str(config_path) if config_path.is_file() else "defaults")
    problems.extend(_validate(settings))
    if problems:
        raise ConfigError(problems)
    return settings
