"""What a real Asterisk 22 spends in CPU per concurrent call when it translates the operators' Opus to the
telephone network's G.711 and back, beside the same calls with G.711 on both legs (no translation).

    python benchmarks/pbx_opus_cpu.py [--calls 10,20,30] [--seconds 20] [--warm-up 5] [--rounds 1]

Two private Asterisk instances from ASTERISK_PREFIX (tests/asterisk/pbx.py: the project's configuration, plus the
few endpoints and contexts below), talking SIP and RTP over 127.0.0.1:
- the PBX, the one measured: for each call it originates a "trunk" leg (a-law only, as the network's legs are) to
  the far instance, and when that answers, dials the "operator" leg (Opus only in the translating mode, a-law only
  in the reference) to the far instance too, and bridges the two: per call two SIP channels, their RTP and the
  bridge, as a resident's call to an operator has in production;
- the far ends, not measured: the trunk leg's far end plays a speech-like sound (band-limited noise, 4 Hz
  envelope) without pause, the operator leg's far end echoes what it receives (Echo(): frames go back in the
  codec they came in, no translation there). So audio flows both ways on both legs, all the time.

Production's operator legs are WebRTC (DTLS-SRTP), where Asterisk relays the frames itself (simple_bridge; see
the audio-delay benchmark). Here bridge_native_rtp is not loaded in the PBX, so the reference relays frames the
same way and does not forward packets below the bridge: the difference between the modes is the translation
(Opus decode and encode, and the 48 kHz <-> 8 kHz resampling), not a change of bridge. SRTP is on neither mode.

CPU is the PBX process's utime + stime (/proc/<pid>/stat, all its threads) over a window after a warm-up, as % of
one core. Steps: idle, then for each number of calls the reference and the Opus mode one after the other (so load
changes on this shared machine hit both), then idle again. Each step checks before and after its window, and
fails rather than print a figure: every call bridged (simple_bridge, two channels), the operator legs' native
format (opus, or alaw), the translation paths Asterisk set on the channels (opus <-> slin in the Opus mode, none in
the reference), and RTP packets counted by Asterisk growing both ways on every channel
(CHANNEL(rtcp,all): rxcount and txcount) at about 50 a second.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.asterisk.pbx import RealPbx, free_port, missing_reason, opus_translator, wait_for_async

MODES = ("alaw", "opus")  # the operator leg's codec: the reference first, then the translating mode
PACKETS_PER_SECOND = 50  # 20 ms packets, G.711 and Opus alike
TICKS = os.sysconf("SC_CLK_TCK")
TALK = "bench-talk"  # the sound the trunk leg's far end plays, in the sounds folder

# The PBX: the network's leg and the operators' legs, each sending its own From user so the far instance can tell
# them apart (both arrive from 127.0.0.1).
PBX_PJSIP = """
; --- benchmarks/pbx_opus_cpu.py -------------------------------------------------------------------------
[bench-endpoint](!)
type = endpoint
context = bench-none
disallow = all
direct_media = no

[bench-trunk](bench-endpoint)
allow = alaw
from_user = bench-trunk

[bench-op-opus](bench-endpoint)
allow = opus
from_user = bench-op-opus

[bench-op-alaw](bench-endpoint)
allow = alaw
from_user = bench-op-alaw
"""
PBX_DIALPLAN = """
; --- benchmarks/pbx_opus_cpu.py: the trunk leg, answered, calls the operator leg --------------------------
[bench-pbx]
exten => opus,1,Dial(PJSIP/bench-op-opus/sip:echo@127.0.0.1:@FAR@)
 same => n,Hangup()
exten => alaw,1,Dial(PJSIP/bench-op-alaw/sip:echo@127.0.0.1:@FAR@)
 same => n,Hangup()
"""
# The far ends: endpoints named as the PBX's From users (found by user before address).
FAR_PJSIP = """
; --- benchmarks/pbx_opus_cpu.py -------------------------------------------------------------------------
[global]
type = global
endpoint_identifier_order = username,ip,anonymous

[bench-endpoint](!)
type = endpoint
context = bench-far
disallow = all
direct_media = no

[bench-trunk](bench-endpoint)
allow = alaw

[bench-op-opus](bench-endpoint)
allow = opus

[bench-op-alaw](bench-endpoint)
allow = alaw
"""
FAR_DIALPLAN = f"""
; --- benchmarks/pbx_opus_cpu.py: a resident who talks without pause, an operator's phone that echoes -------
[bench-far]
exten => talk,1,Answer()
 same => n(again),Playback(@SOUNDS@/{TALK})
 same => n,Goto(again)
exten => echo,1,Answer()
 same => n,Echo()
"""


@dataclass
class BenchPbx(RealPbx):
    """RealPbx with the benchmark's endpoints and dialplan appended, and some modules left out."""

    extra_pjsip: str = ""
    extra_dialplan: str = ""
    without_modules: tuple[str, ...] = field(default_factory=tuple)
    with_modules: tuple[str, ...] = field(default_factory=tuple)

    def write_config(self) -> None:
        super().write_config()
        modules = self.etc / "modules.conf"
        lines = modules.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line.removeprefix("load = ").removesuffix(".so") not in self.without_modules]
        kept += [f"load = {name}.so" for name in self.with_modules]
        modules.write_text("\n".join(kept) + "\n", encoding="utf-8")

    def pjsip_conf(self) -> str:
        return super().pjsip_conf() + self.extra_pjsip

    def extensions_conf(self) -> str:
        return super().extensions_conf() + self.extra_dialplan


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Broken(AssertionError):
    """The loop is not what it must be: no figure from this run."""


@dataclass
class Step:
    mode: str  # "idle", "alaw" or "opus"
    calls: int
    cpu_percent: float  # of one core, the PBX
    far_cpu_percent: float
    seconds: float
    load: float
    packets: str = ""  # per channel and second, the slowest direction
    bridges: str = ""
    transcode: str = ""


async def channels(pbx: RealPbx) -> list[list[str]]:
    concise = await pbx.command("core show channels concise")
    return [line.split("!") for line in concise.splitlines() if line.startswith("PJSIP/")]


async def wait_until(probe: Any, timeout: float, what: str) -> Any:
    """The tests' wait, failing the run as a broken step (no figure) rather than as a test."""
    try:
        return await wait_for_async(probe, timeout, what)
    except AssertionError as exc:
        raise Broken(str(exc)) from None


async def hang_up_all(pbx: RealPbx, far: RealPbx) -> None:
    await pbx.command("channel request hangup all")

    async def none_left() -> bool:
        return not await channels(pbx) and not await channels(far)

    await wait_until(none_left, 30, "every channel to hang up")


async def originate(pbx: RealPbx, far: RealPbx, mode: str, calls: int) -> None:
    for _ in range(calls):
        await pbx.action("Originate", [
            ("Channel", f"PJSIP/bench-trunk/sip:talk@127.0.0.1:{far.sip_port}"), ("Context", "bench-pbx"),
            ("Exten", mode), ("Priority", "1"), ("Timeout", "15000"), ("Async", "true")])
        await asyncio.sleep(0.05)  # a burst of 40 INVITEs at once is not what is measured

    async def all_bridged() -> bool:
        listed = await channels(pbx)
        up = [c for c in listed if len(c) > 4 and c[4] == "Up"]
        return len(up) == 2 * calls and len(await bridges(pbx)) == calls

    await wait_until(all_bridged, 60, f"{calls} calls bridged ({mode})")


async def bridges(pbx: RealPbx) -> list[str]:
    """`bridge show all`: one line per bridge, its technology among the fields."""
    shown = await pbx.command("bridge show all")
    return [line for line in shown.splitlines() if re.match(r"\s*[0-9a-f]{8}-", line)]


async def check_formats(pbx: RealPbx, mode: str, calls: int) -> str:
    """Every operator leg in the mode's codec; translation on every call in the Opus mode, on none otherwise."""
    found = await bridges(pbx)
    if len(found) != calls or not all("simple_bridge" in line.split() for line in found):
        raise Broken(f"{mode}: expected {calls} simple_bridge bridges, got: {found}")
    translated: dict[str, int] = {}
    for entry in await channels(pbx):
        name = entry[0]
        details = await pbx.command(f"core show channel {name}")
        native = re.search(r"NativeFormats:\s*(.*)", details)
        expected = mode if name.startswith("PJSIP/bench-op-") else "alaw"
        if not native or native.group(1).strip() != f"({expected})":
            raise Broken(f"{mode}: {name} native formats {native.group(1) if native else None}, not ({expected})")
        for direction in ("Read", "Write"):
            path = re.search(rf"{direction}Transcode:\s*(.*)", details)
            text = path.group(1).strip() if path else "?"
            if text.startswith("Yes"):
                key = f"{direction} {text.removeprefix('Yes').strip()}"
                translated[key] = translated.get(key, 0) + 1
            elif text != "No":
                raise Broken(f"{mode}: {name} {direction}Transcode {text!r}")
    summary = "; ".join(f"{count}x {path}" for path, count in sorted(translated.items())) or "none"
    if mode == "alaw" and translated:
        raise Broken(f"the reference translates: {summary}")
    if mode == "opus":
        decoded = sum(n for path, n in translated.items() if path.startswith("Read (opus@"))
        decoded += sum(n for path, n in translated.items() if path.startswith("Write (opus@"))
        encoded = sum(n for path, n in translated.items() if "->(opus@" in path)
        if decoded < calls or encoded < calls:
            raise Broken(f"opus: not every call translates both ways ({calls} calls): {summary}")
    return summary


async def rtp_counts(pbx: RealPbx) -> tuple[float, dict[str, tuple[int, int]]]:
    """Per channel the RTP packets Asterisk received and sent so far (CHANNEL(rtcp,all): rxcount, txcount), and
    when they were read."""
    names = [entry[0] for entry in await channels(pbx)]
    replies = await asyncio.gather(*(pbx.action("Getvar", [("Channel", name), ("Variable", "CHANNEL(rtcp,all)")])
                                     for name in names))
    counts = {}
    for name, reply in zip(names, replies, strict=True):
        quality = dict(part.split("=", 1) for part in (reply.get("Value") or "").split(";") if "=" in part)
        if "rxcount" not in quality or "txcount" not in quality:
            raise Broken(f"no RTP statistics for {name}: {reply.get('Value')!r}")
        counts[name] = (int(quality["rxcount"]), int(quality["txcount"]))
    return time.monotonic(), counts


def check_flow(mode: str, calls: int, before: tuple[float, dict[str, tuple[int, int]]],
               after: tuple[float, dict[str, tuple[int, int]]]) -> str:
    """Both directions of every channel's RTP grew by about 50 packets a second in the window."""
    seconds = after[0] - before[0]
    if len(after[1]) != 2 * calls or set(before[1]) != set(after[1]):
        raise Broken(f"{mode}: {len(before[1])} then {len(after[1])} channels with RTP, not {2 * calls}")
    rates = [min(received - before[1][name][0], sent - before[1][name][1]) / seconds
             for name, (received, sent) in after[1].items()]
    if min(rates) < 0.9 * PACKETS_PER_SECOND:  # a starved Asterisk relays less, and would spend less
        raise Broken(f"{mode}: RTP is not flowing both ways on every channel: slowest {min(rates):.1f} packets/s")
    return f"{min(rates):.1f}-{max(rates):.1f}"


async def measure(pbx: RealPbx, far: RealPbx, mode: str, calls: int, seconds: float, warm_up: float) -> Step:
    assert pbx.process is not None and far.process is not None
    step = Step(mode, calls, 0.0, 0.0, seconds, 0.0)
    if calls:
        await originate(pbx, far, mode, calls)
    await asyncio.sleep(warm_up)  # a fixed warm-up by design: the calls' set-up is not part of the figure
    if calls:
        step.transcode = await check_formats(pbx, mode, calls)
        step.bridges = "simple_bridge"
        before = await rtp_counts(pbx)
    started, cpu, far_cpu = time.monotonic(), cpu_seconds(pbx.process.pid), cpu_seconds(far.process.pid)
    await asyncio.sleep(seconds)  # the measured window itself
    elapsed = time.monotonic() - started
    step.cpu_percent = 100 * (cpu_seconds(pbx.process.pid) - cpu) / elapsed
    step.far_cpu_percent = 100 * (cpu_seconds(far.process.pid) - far_cpu) / elapsed
    step.load = os.getloadavg()[0]
    if calls:
        step.packets = check_flow(mode, calls, before, await rtp_counts(pbx))
        await check_formats(pbx, mode, calls)
        await hang_up_all(pbx, far)
    return step


def slope(steps: list[Step], idle: float) -> float:
    """CPU % per call: least squares through (0, idle) and the mode's steps."""
    points = [(0.0, idle)] + [(float(s.calls), s.cpu_percent) for s in steps]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x in xs)


def report(steps: list[Step]) -> list[str]:
    idle = statistics.fmean(s.cpu_percent for s in steps if s.mode == "idle")
    lines = ["| step | calls | PBX CPU, % of one core | per call above idle | far ends' CPU | load (1 min) | "
             "RTP packets/s per channel and direction | translation on the PBX's channels |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for s in steps:
        above = f"{(s.cpu_percent - idle) / s.calls:.3f}" if s.calls else ""
        lines.append(f"| {s.mode} | {s.calls} | {s.cpu_percent:.2f} | {above} | {s.far_cpu_percent:.2f} | "
                     f"{s.load:.2f} | {s.packets} | {s.transcode} |")
    per_call = {mode: slope([s for s in steps if s.mode == mode], idle) for mode in MODES}
    extra = per_call["opus"] - per_call["alaw"]
    # Each Opus step beside the reference step just before it (same calls, a minute apart at most).
    pairs = [(a, o) for a, o in itertools.pairwise(steps)
             if a.mode == "alaw" and o.mode == "opus" and o.calls == a.calls]
    differences = [(o.cpu_percent - a.cpu_percent) / a.calls for a, o in pairs]
    lines += [
        "",
        f"idle PBX: {idle:.2f} % of one core (mean of {sum(s.mode == 'idle' for s in steps)} idle windows)",
        f"per call (least squares through idle and the steps): G.711 both legs {per_call['alaw']:.3f} %, "
        f"Opus <-> G.711 {per_call['opus']:.3f} % of one core",
        f"Opus translation alone: {extra:.3f} % of one core per call (slopes' difference); paired steps: "
        + ", ".join(f"{a.calls} calls {d:.3f} %" for (a, _), d in zip(pairs, differences, strict=True)),
        f"one core at these rates: {100 / per_call['opus']:.0f} Opus calls "
        f"(or {100 / per_call['alaw']:.0f} G.711 calls) before idle; the translation alone fills one core at "
        f"{100 / extra:.0f} calls" if extra > 0 and per_call["opus"] > 0 and per_call["alaw"] > 0
        else "no positive slope: no capacity figure",
    ]
    return lines


async def run(calls: list[int], seconds: float, warm_up: float, rounds: int) -> list[Step]:
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="opus-cpu-") as folder:
        root = Path(folder)
        sounds = root / "sounds"
        sounds.mkdir()
        # Something like speech for the encoders: noise in the telephone band with a 4 Hz syllable envelope.
        await asyncio.to_thread(subprocess.run, [
            "sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(sounds / f"{TALK}.wav"), "synth", "30", "pinknoise",
            "sinc", "300-3400", "tremolo", "4", "90", "vol", "1.5"], check=True)
        far = BenchPbx(root / "far", sounds, http_port=free_port(), extra_pjsip=FAR_PJSIP,
                       extra_dialplan=FAR_DIALPLAN.replace("@SOUNDS@", str(sounds)), with_modules=("app_echo",))
        pbx = BenchPbx(root / "pbx", sounds, http_port=free_port(), extra_pjsip=PBX_PJSIP,
                       without_modules=("bridge_native_rtp",))
        pbx.extra_dialplan = PBX_DIALPLAN.replace("@FAR@", str(far.sip_port))
        await far.start()
        try:
            await pbx.start()
            shown = await pbx.command("core show translation paths opus")
            if not re.search(r"To alaw:8000\s*: \(opus@48000\)->", shown):
                raise Broken(f"{opus_translator()} does not translate opus to alaw: {shown}")
            print(f"PBX pid {pbx.process.pid if pbx.process else '?'}; translation: "
                  + " ".join(next(line for line in shown.splitlines() if "To alaw" in line).split()), flush=True)
            plan = [("idle", 0)] + [(mode, n) for _ in range(rounds) for n in calls for mode in MODES] + [("idle", 0)]
            for mode, n in plan:
                step = await measure(pbx, far, mode, n, seconds, warm_up)
                steps.append(step)
                print(f"{step.mode:5s} {step.calls:3d} calls: PBX {step.cpu_percent:6.2f} % of a core, far ends "
                      f"{step.far_cpu_percent:6.2f} %, load {step.load:.2f}; RTP {step.packets or '-'} packets/s; "
                      f"translation: {step.transcode or '-'}", flush=True)
            problems = [line for line in pbx.problems() if "opus" in line.lower() or "translat" in line.lower()]
            if problems:
                raise Broken("the PBX logged: " + "\n".join(problems[:10]))
        finally:
            await pbx.stop()
            await far.stop()
    return steps


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="10,20,30", help="concurrent calls per step (default 10,20,30)")
    parser.add_argument("--seconds", type=float, default=20.0, help="the measured window per step (default 20)")
    parser.add_argument("--warm-up", type=float, default=5.0, help="seconds after the calls are up (default 5)")
    parser.add_argument("--rounds", type=int, default=1, help="times through the list of steps (default 1)")
    args = parser.parse_args(argv)
    reason = missing_reason() or (None if opus_translator() else "no Opus translator in Asterisk's modules")
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    calls = [int(n) for n in args.calls.split(",")]
    started = time.monotonic()
    try:
        steps = asyncio.run(run(calls, args.seconds, args.warm_up, args.rounds))
    except Broken as problem:
        print(f"NO FIGURE: {problem}", file=sys.stderr)
        return 1
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "?")
    print(f"{os.cpu_count()} CPUs ({model}); {args.seconds:.0f} s windows after {args.warm_up:.0f} s warm-up; "
          f"{time.monotonic() - started:.0f} s in all")
    for line in report(steps):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
