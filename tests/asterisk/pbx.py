"""A real Asterisk 22 for the tests, started from ASTERISK_PREFIX with the project's own files.

Everything Asterisk writes (logs, queue_log, astdb, recordings) lives in one temporary folder; the binary and
its modules come from the prefix. The project's extensions.conf, queues.conf, manager.conf and pjsip.conf are
loaded with only this machine's ports, addresses and secrets replaced (confedit), plus test-only contexts
(test-extensions.conf): callers are Local channels, operators' phones and residents' phones are real SIP calls
that leave through the project's PJSIP trunk and come back to this same Asterisk over loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.pbx.ami import AmiClient
from callcenter.pbx.protocol import Message
from callcenter.softphone.pjsip import Operator, render
from tests.asterisk.certificates import ServerCertificate
from tests.asterisk.confedit import insert_after, replace_line

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PREFIX = Path(os.environ.get("ASTERISK_PREFIX", "/opt/asterisk"))
BINARY = PREFIX / "sbin" / "asterisk"
MODULES = PREFIX / "lib" / "asterisk" / "modules"
INSTALLED_DATA = PREFIX / "var" / "lib" / "asterisk"
NEEDED_MODULES = ("app_queue.so", "chan_pjsip.so", "res_pjsip.so", "func_curl.so", "pbx_config.so",
                  "res_musiconhold.so", "app_mixmonitor.so", "format_wav.so", "chan_local.so")
# What the hotline's dialplan and configuration use, and nothing else: a quiet log and a quick start.
LOADED_MODULES = (
    "res_sorcery_config", "res_sorcery_memory", "res_sorcery_astdb", "res_sorcery_memory_cache", "res_timing_timerfd",
    "res_pjproject", "res_http_websocket", "res_rtp_asterisk", "res_srtp", "res_musiconhold", "res_curl",
    "res_format_attr_opus", "res_pjsip", "res_pjsip_session", "res_pjsip_sdp_rtp", "res_pjsip_caller_id",
    "res_pjsip_authenticator_digest", "res_pjsip_outbound_authenticator_digest", "res_pjsip_endpoint_identifier_ip",
    "res_pjsip_endpoint_identifier_user", "res_pjsip_registrar", "res_pjsip_dtmf_info", "res_pjsip_rfc3326",
    "res_pjsip_transport_websocket", "res_pjsip_nat", "res_pjsip_pubsub", "chan_pjsip",
    # PJSIP_HEADER() (the softphone's X-Hotline-* headers) and REFER (its blind transfer).
    "res_pjsip_header_funcs", "res_pjsip_refer",
    "codec_ulaw", "codec_alaw", "codec_resample", "format_wav", "format_pcm", "format_sln", "bridge_simple",
    "bridge_native_rtp", "bridge_holding", "bridge_builtin_features",
    # Functions before pbx_config: [globals] calls ENV() while the dialplan loads.
    "func_curl", "func_cut", "func_strings", "func_logic", "func_channel", "func_callerid", "func_env", "func_uri",
    "func_global", "func_math", "func_timeout", "func_hangupcause", "func_devstate",
    "pbx_config", "app_dial", "app_queue", "app_playback", "app_read", "app_stack", "app_exec", "app_while",
    "app_userevent", "app_mixmonitor", "app_senddtmf", "app_sayunixtime", "app_verbose", "app_waitforsilence",
    "app_playtones",  # tests only: a resident's handset that speaks (test-extensions.conf)
    "res_pjsip_logger",  # tests only: `pjsip set logger on` shows the SIP a test asserts on (off until then)
)
# Asterisk translates Opus only with one of these (Sangoma's binary codec_opus, or an open-source build of
# codec_opus_open_source against libopus): the first one installed is loaded, and none when neither is.
OPUS_TRANSLATORS = ("codec_opus", "codec_opus_open_source")
# Operators in the test PBX: 101's phone answers (a static contact back to this Asterisk); 102's is unregistered.
REGISTERED_OPERATOR = "101"
UNREGISTERED_OPERATOR = "102"


def missing_reason() -> str | None:
    """Why no real-PBX test can run here, or None when Asterisk is installed."""
    if not BINARY.exists():
        return (f"no Asterisk at ASTERISK_PREFIX={PREFIX} ({BINARY} missing): build Asterisk 22 and install it "
                "there, or point ASTERISK_PREFIX at an installation")
    if not MODULES.is_dir():
        return f"no Asterisk modules in {MODULES}"
    absent = [name for name in NEEDED_MODULES
              if not (MODULES / name).exists() and not (MODULES / name.replace(".so", ".o")).exists()]
    absent = [name for name in absent if name != "chan_local.so"]  # built into the core since Asterisk 12
    if absent:
        return f"the Asterisk at {PREFIX} lacks modules the hotline needs: {', '.join(absent)}"
    if shutil.which("sox") is None:
        return "sox is missing (apt-get install sox): the tests measure what callers hear"
    return None


def opus_translator() -> str | None:
    """The Opus translator module installed in the prefix's modules folder, or None (Opus passes through only)."""
    return next((name for name in OPUS_TRANSLATORS if (MODULES / f"{name}.so").exists()), None)


def loaded_modules() -> tuple[str, ...]:
    """LOADED_MODULES, and the Opus translator where one is installed (modules.conf has autoload = no)."""
    translator = opus_translator()
    return (*LOADED_MODULES, translator) if translator else LOADED_MODULES


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RealPbx:
    root: Path
    sounds: Path
    http_port: int
    ami_port: int = field(default_factory=free_port)
    sip_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    ami_secret: str = field(default_factory=lambda: secrets.token_hex(12))
    tester_secret: str = field(default_factory=lambda: secrets.token_hex(12))
    ivr_token: str = field(default_factory=lambda: secrets.token_hex(16))
    # CALLCENTER_SOFTPHONE_SECRET of this PBX's service: the operators' SIP passwords derive from it.
    softphone_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    # Browser softphones (tests/asterisk/test_softphone_real.py): Asterisk's HTTP server on this port carries the
    # SIP WebSocket (ws://127.0.0.1:<port>/ws), and these operators' endpoints keep webrtc = yes. 0: neither.
    websocket_port: int = 0
    browser_operators: tuple[str, ...] = ()
    # The WebSocket port serves TLS (wss://) with this certificate, as production has it.
    websocket_tls: ServerCertificate | None = None
    # Where browsers reach this PBX's SIP WebSocket and the service beside it (its dialplan's CC_API too): a
    # veth address when the browser runs in its own network namespace (test_softphone_network.py).
    bind_address: str = "127.0.0.1"
    # The operators' endpoints' codecs in this order instead of config/pjsip.conf's (`allow` of operator-endpoint),
    # e.g. "opus,ulaw,alaw" where an Opus translator is installed. None: the project's order.
    operator_codecs: str | None = None
    process: subprocess.Popen[bytes] | None = None
    ami: AmiClient | None = None

    # -- files -----------------------------------------------------------------------------------------------

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def queue_log(self) -> Path:
        return self.log_dir / "queue_log"

    @property
    def recordings(self) -> Path:
        return self.root / "recordings"

    def write_config(self) -> None:
        for folder in ("etc", "lib", "spool", "run", "log", "agi", "data", "recordings", "moh"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        data = self.root / "data"
        # Asterisk's XML documentation (it refuses to start without it) and other data come from the prefix;
        # the sounds are the project's prompts, built by `callcenter prompts build`.
        for entry in INSTALLED_DATA.iterdir() if INSTALLED_DATA.is_dir() else ():
            if entry.name != "sounds" and not (data / entry.name).exists():
                (data / entry.name).symlink_to(entry)
        if not (data / "sounds").exists():
            (data / "sounds").symlink_to(self.sounds)
        d = self.root
        (self.etc / "asterisk.conf").write_text(f"""[directories]
astetcdir => {self.etc}
astmoddir => {MODULES}
astvarlibdir => {d}/lib
astdbdir => {d}/lib
astkeydir => {d}/lib
astdatadir => {d}/data
astagidir => {d}/agi
astspooldir => {d}/spool
astrundir => {d}/run
astlogdir => {d}/log
astsbindir => {PREFIX}/sbin

[options]
verbose = 3
nocolor = yes
transmit_silence = yes
""", encoding="utf-8")
        loads = "\n".join(f"load = {name}.so" for name in loaded_modules())
        (self.etc / "modules.conf").write_text(f"[modules]\nautoload = no\n{loads}\n", encoding="utf-8")
        (self.etc / "logger.conf").write_text("""[general]
queue_log = yes
queue_log_to_file = yes
dateformat = %F %T.%3q

[logfiles]
full => notice,warning,error,verbose(3),dtmf
""", encoding="utf-8")
        (self.etc / "indications.conf").write_text("""[general]
country = ru

[ru]
description = Russian Federation
ringcadence = 800,3200
dial = 425
busy = 425/350,0/350
ring = 425/800,0/3200
congestion = 425/175,0/175
callwaiting = 425/200,0/5000
record = 1400/400,0/15000
info = 950/330,1400/330,1800/330,0/1000
""", encoding="utf-8")
        moh = self.root / "moh" / "quiet-tone.wav"
        if not moh.exists():
            subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(moh), "synth", "3", "sine", "440",
                            "vol", "0.05"], check=True)
        (self.etc / "musiconhold.conf").write_text(f"""[default]
mode = files
directory = {self.root / 'moh'}
""", encoding="utf-8")
        for quiet in ("cdr.conf", "cel.conf", "features.conf", "udptl.conf", "pjproject.conf",
                      "ccss.conf"):
            (self.etc / quiet).write_text("[general]\n", encoding="utf-8")
        (self.etc / "acl.conf").write_text("", encoding="utf-8")
        (self.etc / "rtp.conf").write_text("[general]\nrtpstart = 20000\nrtpend = 30000\n", encoding="utf-8")
        (self.etc / "http.conf").write_text(self.http_conf(), encoding="utf-8")
        (self.etc / "queues.conf").write_text((REPO / "config" / "queues.conf").read_text(encoding="utf-8"),
                                              encoding="utf-8")
        (self.etc / "manager.conf").write_text(self.manager_conf(), encoding="utf-8")
        (self.etc / "pjsip.conf").write_text(self.pjsip_conf(), encoding="utf-8")
        (self.etc / "extensions.conf").write_text(self.extensions_conf(), encoding="utf-8")

    def http_conf(self) -> str:
        if not self.websocket_port:
            return "[general]\nenabled = no\n"
        if self.websocket_tls is None:
            return f"[general]\nenabled = yes\nbindaddr = {self.bind_address}\nbindport = {self.websocket_port}\n"
        certificate, key = self.websocket_tls.certificate, self.websocket_tls.private_key
        # Plain HTTP on a port of its own nobody uses; the browsers' SIP WebSocket only over TLS.
        return (f"[general]\nenabled = yes\nbindaddr = {self.bind_address}\nbindport = {free_port()}\n"
                f"tlsenable = yes\ntlsbindaddr = {self.bind_address}:{self.websocket_port}\n"
                f"tlscertfile = {certificate}\ntlsprivatekey = {key}\n")

    def manager_conf(self) -> str:
        text = (REPO / "config" / "manager.conf").read_text(encoding="utf-8")
        text = replace_line(text, r"port = 5038", f"port = {self.ami_port}")
        text = replace_line(text, r"bindaddr = .*", "bindaddr = 127.0.0.1")
        text = replace_line(text, r"secret = CHANGE_ME", f"secret = {self.ami_secret}")
        text = replace_line(text, r"permit = .*", "permit = 127.0.0.1/255.255.255.255")
        # The tests' own user: plays callers (Originate, PlayDTMF) and watches everything the dialplan does.
        return text + f"""
[tester]
secret = {self.tester_secret}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = all
write = all
"""

    def pjsip_conf(self) -> str:
        text = (REPO / "config" / "pjsip.conf").read_text(encoding="utf-8")
        # The operators' endpoints as `callcenter asterisk-config` writes them, inlined where pjsip.conf includes
        # them (so the lines below find and change them like the rest).
        extensions = (REGISTERED_OPERATOR, UNREGISTERED_OPERATOR, *self.browser_operators)
        operators = render([Operator(ext, f"Оператор {ext}") for ext in extensions], self.softphone_secret)
        # ...and the include itself after them, as production has it: `callcenter asterisk-config` writes it.
        text = replace_line(text, r"#tryinclude pjsip_operators\.conf",
                            operators + "\n#tryinclude pjsip_operators.conf")
        # WSS needs Asterisk's TLS web server: without a certificate (websocket_tls) the browsers use plain WS.
        if self.websocket_tls is None:
            text = replace_line(text, r"protocol = wss", "protocol = ws")
        text = replace_line(text, r"bind = 0\.0\.0\.0:8089", f"bind = 127.0.0.1:{free_port()}")
        text = replace_line(text, r"bind = 0\.0\.0\.0:5060", f"bind = 127.0.0.1:{self.sip_port}")
        text = replace_line(text, r"password = CHANGE_ME", f"password = {secrets.token_hex(8)}", count=0)
        # The provider is this Asterisk itself: residents' phones answer in [test-loopback].
        text = replace_line(text, r"contact = sip:sip\.provider\.example:5060",
                            f"contact = sip:127.0.0.1:{self.sip_port}")
        text = replace_line(text, r"match = sip\.provider\.example", "match = 192.0.2.1")
        # Operators' test phones are plain SIP handsets, not browsers: no DTLS-SRTP and ICE to loop back.
        if self.operator_codecs is not None:  # operator-endpoint's own line: `allow = ...` naming opus
            text = replace_line(text, r"allow = .*opus.*", f"allow = {self.operator_codecs}")
        text = replace_line(text, r"webrtc = yes", "webrtc = no")
        text = replace_line(text, r"dtls_auto_generate_cert = yes", "")
        for browser in self.browser_operators:  # a real browser: DTLS-SRTP, ICE and the rest, as in production
            text = insert_after(text, f"[{browser}](operator-endpoint)", "webrtc = yes\ndtls_auto_generate_cert = yes")
        text = insert_after(text, f"[{REGISTERED_OPERATOR}](operator-aor)",
                            f"contact = sip:op{REGISTERED_OPERATOR}@127.0.0.1:{self.sip_port}")
        if self.browser_operators:
            # The browser connects from 127.0.0.1 too, which [loopback-identify] claims by address: name the
            # endpoint by the user first, as production does (there the browser's address matches no identify).
            text += "\n[global]\ntype = global\nendpoint_identifier_order = username,ip,anonymous\n"
        return text + """
; --- test only: SIP that this Asterisk sends to itself (operators' and residents' phones) -------------------
[loopback]
type = endpoint
context = test-loopback
disallow = all
allow = alaw,ulaw
direct_media = no
language = ru

[loopback-identify]
type = identify
endpoint = loopback
match = 127.0.0.1
"""

    def extensions_conf(self) -> str:
        text = (REPO / "dialplans" / "extensions.conf").read_text(encoding="utf-8")
        text = replace_line(text, r"CC_API = .*", f"CC_API = http://{self.bind_address}:{self.http_port}")
        tests = (HERE / "test-extensions.conf").read_text(encoding="utf-8")
        tests = tests.replace("@RECORDINGS@", str(self.recordings))
        return text + "\n" + tests

    # -- process ---------------------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("CALLCENTER_")}
        env["CALLCENTER_IVR_TOKEN"] = self.ivr_token
        return env

    async def start(self, timeout: float = 60.0) -> None:
        self.write_config()
        self.process = subprocess.Popen(
            [str(BINARY), "-f", "-n", "-C", str(self.etc / "asterisk.conf")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=self.environment(), start_new_session=True)
        self.ami = AmiClient("127.0.0.1", self.ami_port, "tester", self.tester_secret, connect_timeout=2.0,
                             action_timeout=15.0, ping_interval=30.0)
        booted = asyncio.Event()

        def on_event(message: Message) -> None:
            if message.name == "FullyBooted":
                booted.set()

        self.ami.on_event(on_event)
        self.ami.start()  # connects, and reconnects with back-off while Asterisk is still starting
        deadline = time.monotonic() + timeout
        while not booted.is_set():
            if self.process.poll() is not None:
                raise RuntimeError(f"Asterisk exited with {self.process.returncode}: {self.tail_log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Asterisk did not boot in {timeout:.0f} s: {self.tail_log()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(booted.wait(), 0.5)
        # The registered operator's phone counts as available only once qualified (qualify_frequency): ask for
        # it now, so that no test waits up to 30 s for app_queue to see the phone.
        await self.command(f"pjsip qualify {REGISTERED_OPERATOR}")
        await wait_for_async(self._operator_reachable, max(5.0, deadline - time.monotonic()),
                             "the registered operator's phone qualified")

    async def _operator_reachable(self) -> bool:
        contacts = await self.command("pjsip show contacts")
        return any(f"op{REGISTERED_OPERATOR}@" in line and "Avail" in line for line in contacts.splitlines())

    async def stop(self, how: str = "now") -> None:
        """`core stop now` through the CLI channel (a planned stop); kill when it hangs."""
        if self.ami is not None:
            with contextlib.suppress(Exception):
                await self.ami.send_action("Command", [("Command", f"core stop {how}")])
            await self.ami.close()
            self.ami = None
        if self.process is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(self.process.wait), 20)
            except TimeoutError:
                os.killpg(self.process.pid, signal.SIGKILL)
                await asyncio.to_thread(self.process.wait)
            self.process = None

    async def command(self, command: str) -> str:
        assert self.ami is not None
        result = await self.ami.send_action("Command", [("Command", command)])
        return "\n".join(value for key, value in result.response.headers if key == "Output")

    async def action(self, name: str, headers: list[tuple[str, str]]) -> Message:
        assert self.ami is not None
        return (await self.ami.send_action(name, headers)).response

    def log_text(self) -> str:
        path = self.log_dir / "full"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def tail_log(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def problems(self, ignore: tuple[str, ...] = ()) -> list[str]:
        """ERROR and WARNING lines Asterisk logged, less the expected ones."""
        found = []
        for line in self.log_text().splitlines():
            if re.search(r"\] (ERROR|WARNING)\[", line) and not any(part in line for part in ignore):
                found.append(line)
        return found

    def queue_log_lines(self) -> list[list[str]]:
        if not self.queue_log.exists():
            return []
        return [line.split("|") for line in self.queue_log.read_text(encoding="utf-8").splitlines() if line]


async def wait_for(predicate: Callable[[], object], timeout: float, what: str, step: float = 0.1) -> object:
    """Poll a condition Asterisk or the service reaches on its own (a file, a log line, a store record)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(step)


class AmiRecorder:
    """The AMI stream exactly as the service's own user (`callcenter`, with its event filters) receives it,
    byte for byte, for the transcripts under tests/data/ami/asterisk22-hotline/ (HOTLINE_RECORD_AMI=DIR)."""

    def __init__(self, pbx: RealPbx) -> None:
        self.pbx = pbx
        self.data = bytearray()
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.pbx.ami_port)
        self._writer = writer
        writer.write(f"Action: Login\r\nUsername: callcenter\r\nSecret: {self.pbx.ami_secret}\r\nEvents: on\r\n"
                     "ActionID: recorder-login\r\n\r\n".encode())
        await writer.drain()

        async def read() -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while chunk := await reader.read(65536):
                    self.data.extend(chunk)

        self._task = asyncio.create_task(read())

    async def stop(self, path: Path) -> None:
        if self._writer is not None:
            with contextlib.suppress(ConnectionError, OSError):
                self._writer.write(b"Action: Logoff\r\nActionID: recorder-logoff\r\n\r\n")
                await self._writer.drain()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._task, 5)
            self._task.cancel()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(self.data))


async def wait_for_async(probe: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    """As wait_for, for a condition that takes an await to read (an AMI command)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)
