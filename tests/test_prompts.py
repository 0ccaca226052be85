"""IVR prompts: every prompt the dialplan plays has its texts, and the stand-ins built from them are 8 kHz sound
that Asterisk can play (measured with sox and the wave module)."""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from callcenter import prompts
from callcenter.cases.model import load_vocabulary
from callcenter.cli import main
from tests.conftest import REPO

DIALPLAN = REPO / "dialplans" / "extensions.conf"
QUEUES = REPO / "config" / "queues.conf"
TABLE = REPO / "dialplans" / "prompts.md"
STATUSES = REPO / "config" / "case_statuses.toml"

TOOLS_MISSING = [program for program in ("espeak-ng", "sox") if shutil.which(program) is None]
needs_tools = pytest.mark.skipif(
    bool(TOOLS_MISSING), reason=f"{' and '.join(TOOLS_MISSING)} not installed (apt-get install espeak-ng sox)")


@pytest.fixture(scope="module")
def catalogue() -> dict[str, prompts.Prompt]:
    return prompts.load_catalogue(TABLE, STATUSES)


# ---------------------------------------------------------------------------------------------------------
# The catalogue against the dialplan, queues.conf and the status vocabulary.

def test_every_prompt_the_dialplan_and_queues_name_has_both_texts(catalogue: dict[str, prompts.Prompt]) -> None:
    uses = prompts.load_uses(DIALPLAN, QUEUES)
    names = {use.name for use in uses}
    assert len(names) >= 20, names  # the parser found the dialplan's prompts at all
    assert "hotline/queue-press-2-for-callback" in names  # queues.conf periodic-announce
    assert "hotline/callback-press-1-confirm-2-other" in names  # Read()'s second argument
    assert prompts.problems(catalogue, uses) == []
    for name in names:
        assert catalogue[name].text("ru") and catalogue[name].text("en"), name


def test_a_new_prompt_in_the_dialplan_without_a_text_is_a_problem(catalogue: dict[str, prompts.Prompt]) -> None:
    dialplan = DIALPLAN.read_text(encoding="utf-8") + "\n[extra]\nexten => s,1,Playback(hotline/new-thing)\n"
    found = prompts.problems(catalogue, prompts.dialplan_prompts(dialplan, "extensions.conf"))
    assert len(found) == 1 and "hotline/new-thing" in found[0] and "extensions.conf:" in found[0]


def test_every_status_has_its_prompts_in_the_catalogue(catalogue: dict[str, prompts.Prompt]) -> None:
    vocabulary = load_vocabulary(STATUSES)
    assert vocabulary
    for code, status in vocabulary.items():
        assert status.prompts, f"status {code} has no prompt to play"
        for name in status.prompts:
            assert name in catalogue, f"status {code}: {name} is not in the catalogue"
            assert catalogue[name].text("ru") and catalogue[name].text("en"), name
        own = [catalogue[name] for name in status.prompts if name.startswith("status/")]
        assert [(prompt.text("ru"), prompt.text("en")) for prompt in own] == [(status.ru, status.en)], code
    assert prompts.status_prompt_names(STATUSES.read_text(encoding="utf-8")) == {
        code: status.prompts for code, status in vocabulary.items()}


def test_the_table_has_the_operators_prompt_and_no_notes_in_the_texts(catalogue: dict[str, prompts.Prompt]) -> None:
    hotline = [prompt for prompt in catalogue.values() if prompt.name.startswith("hotline/")]
    assert len(hotline) == 25
    operator = catalogue["hotline/video-session-on-screen"]
    assert operator.heard_by == "operator"
    assert operator.text("ru") == "Видеозвонок: откройте его на экране, переводчик ждёт."
    assert {prompt.heard_by for prompt in hotline} == {"caller", "operator"}
    for prompt in catalogue.values():
        assert re.search("[а-яё]", prompt.text("ru"), re.IGNORECASE), prompt.name
        assert not re.search("[а-яё]", prompt.text("en"), re.IGNORECASE), prompt.name
        assert "(" not in prompt.text("ru") + prompt.text("en"), prompt.name


# ---------------------------------------------------------------------------------------------------------
# The parsers, on small inline files.

INLINE_DIALPLAN = r"""
[general]
static = yes
[demo]
exten => s,1,Playback(hotline/a&hotline/b)
 same => n(menu),Background(hotline/c,m)
 same => n,Read(CHOICE,hotline/d,1,,2,6)
 same => n,ControlPlayback(hotline/e,3000)
 same => n,ExecIf($["${X}" = "1"]?Playback(hotline/f):Playback(status/g))
 same => n,Playback(${REPLACE(GOSUB_RETVAL,+,&)})
 same => n,Playback(hotline/${WHICH}&hotline/h)
 same => n,Playback(beep&vm-goodbye)
 same => n,playback(hotline/lower-case)
 same => n,Queue(hotline,t,,hotline/override)
 same => n,Read(NUMBER,,11)
 ; same => n,Playback(hotline/commented-out)
 same => n,ExecIf($["${X}" != "a\;b"]?Playback(hotline/i))  ; Playback(hotline/after-comment)
;-- a block comment
 same => n,Playback(hotline/in-block)
--;
 same => n,Wait(1)
"""


def test_dialplan_parser_finds_literal_prompts_only() -> None:
    uses = prompts.dialplan_prompts(INLINE_DIALPLAN, "demo.conf")
    assert [use.name for use in uses] == [
        "hotline/a", "hotline/b", "hotline/c", "hotline/d", "hotline/e", "hotline/f", "status/g", "hotline/h",
        "hotline/lower-case", "hotline/override", "hotline/i"]
    assert uses[0].source == "demo.conf:5 Playback"
    assert uses[3].source == "demo.conf:7 Read"


def test_queue_settings_that_name_our_prompts() -> None:
    text = """
[general]
persistentmembers = yes
[hotline]
context = hotline-queue-exit
periodic-announce = hotline/queue-press-2-for-callback,hotline/second|hotline/third
announce = hotline/to-the-operator
queue-thankyou = queue-thankyou
; periodic-announce = hotline/commented-out
member => Local/101@agents,0,Operator 101
"""
    uses = prompts.queue_prompts(text, "q.conf")
    assert [(use.name, use.source) for use in uses] == [
        ("hotline/queue-press-2-for-callback", "q.conf:6 periodic-announce"),
        ("hotline/second", "q.conf:6 periodic-announce"), ("hotline/third", "q.conf:6 periodic-announce"),
        ("hotline/to-the-operator", "q.conf:7 announce")]


def test_table_parser() -> None:
    table = """# Prompts

| file | heard by | Russian | English |
|---|---|---|---|
| hotline/one | caller | Раз. | One. |
| hotline/two | operator | Два. |  |

Text after the table | with a bar.
"""
    parsed = prompts.parse_prompt_table(table, "t.md")
    assert [(p.name, p.heard_by, p.text("ru"), p.text("en"), p.source) for p in parsed] == [
        ("hotline/one", "caller", "Раз.", "One.", "t.md:5"), ("hotline/two", "operator", "Два.", "", "t.md:6")]
    found = prompts.problems({p.name: p for p in parsed}, [prompts.PromptUse("hotline/two", "x.conf:1 Playback")])
    assert found == ["t.md:6: hotline/two has no en text"]
    with pytest.raises(prompts.PromptError, match="not a prompt name"):
        prompts.parse_prompt_table("| file | Russian | English |\n|---|---|---|\n| ../etc/x | а | a |\n")
    with pytest.raises(prompts.PromptError, match="2 cells"):
        prompts.parse_prompt_table("| file | Russian | English |\n|---|---|---|\n| hotline/x | а |\n")


def test_status_parser() -> None:
    parsed = prompts.parse_status_prompts('[done]\nru = "Готово."\nen = "Done."\n'
                                          'prompts = ["status/done", "hotline/case-press-1-operator"]\n')
    assert [(p.name, dict(p.texts)) for p in parsed] == [("status/done", {"ru": "Готово.", "en": "Done."})]
    with pytest.raises(prompts.PromptError, match="one text"):
        prompts.parse_status_prompts('[x]\nru = "a"\nen = "b"\nprompts = ["status/a", "status/b"]\n')


def test_what_a_rebuild_does() -> None:
    ours = prompts.ManifestEntry("r1", {"wav": "w", "sln": "s"})
    both = {"wav": "w", "sln": "s"}
    assert prompts.decide("r1", None, {"wav": None, "sln": None}, False) is prompts.Action.BUILD
    assert prompts.decide("r1", ours, both, False) is prompts.Action.CURRENT
    assert prompts.decide("r2", ours, both, False) is prompts.Action.BUILD  # the text or the voice changed
    assert prompts.decide("r1", ours, {"wav": "w", "sln": None}, False) is prompts.Action.BUILD
    # A recording put in place of the .wav: the stand-in's .sln left beside it goes (Asterisk might play it).
    assert prompts.decide("r2", ours, {"wav": "recorded", "sln": "s"}, False) is prompts.Action.RETIRE
    assert prompts.decide("r1", None, {"wav": "recorded", "sln": None}, False) is prompts.Action.KEEP
    assert prompts.decide("r1", None, {"wav": "recorded", "sln": None}, True) is prompts.Action.BUILD


def test_a_missing_program_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             catalogue: dict[str, prompts.Prompt]) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "espeak-ng" else f"/usr/bin/{name}")
    with pytest.raises(prompts.ToolMissing) as raised:
        prompts.build(tmp_path, ("ru",), catalogue=catalogue, names=["hotline/closed"])
    message = str(raised.value)
    assert "\n" not in message and "espeak-ng not found" in message and "apt-get install espeak-ng" in message
    assert prompts.missing_programs_message(["espeak-ng", "sox"]) == (
        "espeak-ng and sox not found: install the Debian packages espeak-ng sox (apt-get install espeak-ng sox)")


# ---------------------------------------------------------------------------------------------------------
# Asterisk's digits/* files: a model of the file names Asterisk 22's main/say.c asks for, read from its source
# (ast_get_digit_str, ast_say_number_full_ru, get_number_str_en, ast_say_enumeration_full_en and
# ast_say_date_with_format_en, which say_date_with_format uses for ru as well), against the stand-ins.

def say_digits(text: str) -> list[str]:
    """ast_get_digit_str: SayDigits."""
    special = {"*": "digits/star", "#": "digits/pound", "-": "digits/minus"}
    return [f"digits/{char}" if char.isdigit() else special[char] for char in text if char.isdigit() or char in special]


def lastdigits_ru(num: int) -> int:
    if num < 20:
        return num
    if num < 100:
        return lastdigits_ru(num % 10)
    if num < 1000:
        return lastdigits_ru(num % 100)
    return 0


def say_number_ru(num: int, options: str | None = None) -> list[str]:
    """ast_say_number_full_ru (up to 999,999; SayNumber passes no options)."""
    if num == 0:
        return say_digits("0")
    files: list[str] = []
    while num:
        if num < 0:
            files.append("digits/minus")
            num = -num
        elif num < 20:
            files.append(f"digits/{num}{options}" if options and len(options) == 1 and num < 3 else f"digits/{num}")
            num = 0
        elif num < 100:
            files.append(f"digits/{num - num % 10}")
            num %= 10
        elif num < 1000:
            files.append(f"digits/{num - num % 100}")
            num %= 100
        else:
            assert num < 1_000_000
            last = lastdigits_ru(num // 1000)
            files += say_number_ru(num // 1000, "f" if last < 3 else None)
            files.append("digits/thousand" if last == 1 else
                         "digits/thousands-i" if 1 < last < 5 else "digits/thousands")
            num %= 1000
    return files


def say_number_en(num: int) -> list[str]:
    """get_number_str_en (up to 999,999)."""
    if num == 0:
        return say_digits("0")
    files: list[str] = []
    hundred = False
    while num or hundred:
        if num < 0:
            files.append("digits/minus")
            num = -num
        elif hundred:
            files.append("digits/hundred")
            hundred = False
        elif num < 20:
            files.append(f"digits/{num}")
            num = 0
        elif num < 100:
            files.append(f"digits/{num // 10 * 10}")
            num %= 10
        elif num < 1000:
            files.append(f"digits/{num // 100}")
            hundred = True
            num %= 100
        else:
            assert num < 1_000_000
            files += [*say_number_en(num // 1000), "digits/thousand"]
            num %= 1000
    return files


def say_enumeration_en(num: int) -> list[str]:
    """ast_say_enumeration_full_en, for a day of the month (1-31); Russian has no enumeration of its own."""
    files: list[str] = []
    while num:
        assert 0 < num < 100
        if num < 20:
            files.append(f"digits/h-{num}")
            num = 0
        else:
            tens, num = num // 10, num % 10
            files.append(f"digits/h-{tens * 10}" if num == 0 else f"digits/{tens * 10}")
    return files


SAY_NUMBER = {"ru": say_number_ru, "en": say_number_en}


def say_date(when: datetime.datetime, format_: str, language: str) -> list[str]:
    """ast_say_date_with_format_en with the format letters the dialplan uses (A d B Y H M, 'file', spaces)."""
    number = SAY_NUMBER[language]
    tm_wday, tm_mon, tm_year = (when.weekday() + 1) % 7, when.month - 1, when.year - 1900
    files: list[str] = []
    literal = re.compile(r"'([^']*)'")
    offset = 0
    while offset < len(format_):
        char = format_[offset]
        if char == "'":
            match = literal.match(format_, offset)
            assert match
            files.append(match.group(1))
            offset = match.end()
            continue
        if char == "A":
            files.append(f"digits/day-{tm_wday}")
        elif char == "B":
            files.append(f"digits/mon-{tm_mon}")
        elif char == "d":
            files += say_enumeration_en(when.day)
        elif char == "Y":
            if tm_year > 99:
                files += number(when.year)
            elif tm_year >= 1:
                files += ["digits/19"] + (["digits/oh"] if tm_year <= 9 else []) + number(tm_year)
        elif char == "H":
            if when.hour < 10:
                files.append("digits/oh")
            if when.hour > 20:
                files += ["digits/20", f"digits/{when.hour - 20}"]
            elif when.hour:
                files.append(f"digits/{when.hour}")
        elif char == "M":
            if when.minute == 0:
                files.append("digits/oclock")
            elif when.minute < 10:
                files += ["digits/oh", f"digits/{when.minute}"]
            else:
                files += number(when.minute)
        else:
            assert char == " ", f"format letter {char} is not modelled"
        offset += 1
    return files


DIALPLAN_DATE_FORMATS = ("AdBY", "AdBY 'digits/at' HM")  # the dialplan's SayUnixTime formats


def test_the_model_is_say_c() -> None:
    """Hand-checked against main/say.c, so that the coverage test below checks the real file names."""
    assert say_digits("+79161234567") == [f"digits/{digit}" for digit in "79161234567"]
    assert {number: say_number_ru(number) for number in (0, 1, 2, 5, 11, 21, 40, 100, 121, 999)} == {
        0: ["digits/0"], 1: ["digits/1"], 2: ["digits/2"], 5: ["digits/5"], 11: ["digits/11"],
        21: ["digits/20", "digits/1"], 40: ["digits/40"], 100: ["digits/100"],
        121: ["digits/100", "digits/20", "digits/1"], 999: ["digits/900", "digits/90", "digits/9"]}
    assert say_number_ru(1000) == ["digits/1f", "digits/thousand"]
    assert say_number_ru(2024) == ["digits/2f", "digits/thousands-i", "digits/20", "digits/4"]
    assert say_number_ru(5000) == ["digits/5", "digits/thousands"]
    assert say_number_ru(9999) == ["digits/9", "digits/thousands", "digits/900", "digits/90", "digits/9"]
    assert say_number_ru(21000) == ["digits/20", "digits/1f", "digits/thousand"]
    assert say_number_ru(-5) == ["digits/minus", "digits/5"]
    assert say_number_en(121) == ["digits/1", "digits/hundred", "digits/20", "digits/1"]
    assert say_number_en(2024) == ["digits/2", "digits/thousand", "digits/20", "digits/4"]
    assert say_number_en(9999) == ["digits/9", "digits/thousand", "digits/9", "digits/hundred", "digits/90",
                                   "digits/9"]
    assert say_enumeration_en(21) == ["digits/20", "digits/h-1"]
    assert say_enumeration_en(30) == ["digits/h-30"]
    monday = datetime.datetime(2025, 3, 3, 8, 0)
    assert say_date(monday, "AdBY 'digits/at' HM", "ru") == [
        "digits/day-1", "digits/h-3", "digits/mon-2", "digits/2f", "digits/thousands-i", "digits/20", "digits/5",
        "digits/at", "digits/oh", "digits/8", "digits/oclock"]
    assert say_date(datetime.datetime(2025, 12, 31, 23, 45), "HM", "en") == [
        "digits/20", "digits/3", "digits/40", "digits/5"]
    assert say_date(datetime.datetime(1905, 1, 1), "Y", "en") == ["digits/19", "digits/oh", "digits/5"]


def every_file_asked_for(language: str) -> set[str]:
    """Every file the dialplan's SayDigits, SayNumber (0-9999, and a negative number) and SayUnixTime can ask
    for in `language`."""
    number = SAY_NUMBER[language]
    asked = set(say_digits("0123456789"))
    for value in [*range(10_000), -5]:
        asked.update(number(value))
    start = datetime.datetime(2024, 1, 1)  # two years: every month, day of the week, day of the month
    for day in range(731):
        for format_ in DIALPLAN_DATE_FORMATS:
            asked.update(say_date(start + datetime.timedelta(days=day), format_, language))
    for minute in range(24 * 60):  # every time of day
        asked.update(say_date(start + datetime.timedelta(minutes=minute), "HM", language))
    for year in (1901, 1909, 1999, 2099):  # years in the last century are said another way
        asked.update(say_date(datetime.datetime(year, 6, 15), "Y", language))
    return asked


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_digit_stand_ins_are_every_file_say_c_asks_for(language: str) -> None:
    texts = prompts.digit_texts(language)
    asked = every_file_asked_for(language)
    assert not asked - set(texts), f"say.c asks for files without a stand-in: {sorted(asked - set(texts))}"
    assert not set(texts) - asked, f"stand-ins say.c never asks for: {sorted(set(texts) - asked)}"
    assert all(text.strip() for text in texts.values())
    for month in range(12):
        for format_ in DIALPLAN_DATE_FORMATS:
            assert f"digits/mon-{month}" in say_date(datetime.datetime(2025, month + 1, 1), format_, language)
    assert {f"digits/day-{day}" for day in range(7)} <= set(texts)


def test_the_russian_digits_are_the_forms_say_c_puts_them_in() -> None:
    ru = prompts.digit_texts("ru")
    # одна тысяча, две тысячи, пять тысяч: feminine units before the thousands, and the three plural forms.
    assert [ru[name] for name in say_number_ru(1000)] == ["одна", "тысяча"]
    assert [ru[name] for name in say_number_ru(2024)] == ["две", "тысячи", "двадцать", "четыре"]
    assert [ru[name] for name in say_number_ru(5000)] == ["пять", "тысяч"]
    assert [ru[name] for name in say_number_ru(1)] == ["один"]  # minutes: the masculine
    # The date: понедельник, третье марта; the day of the month a neuter ordinal (число), the month genitive.
    date = [ru[name] for name in say_date(datetime.datetime(2025, 3, 3), "AdBY", "ru")]
    assert date[:3] == ["понедельник", "третье", "марта"]
    assert [ru[name] for name in say_enumeration_en(21)] == ["двадцать", "первое"]
    assert [ru[name] for name in say_enumeration_en(30)] == ["тридцатое"]
    assert ru["digits/mon-0"] == "января" and ru["digits/day-0"] == "воскресенье"
    assert "digits/hundred" not in ru and "digits/1f" not in prompts.digit_texts("en")
    assert all(re.search("[а-яё]|\\[\\[", text) for text in ru.values())
    assert prompts.digit_texts("de") == {}


def test_digit_jobs() -> None:
    jobs = prompts.digit_jobs(("ru", "en"))
    assert len(jobs) == len(prompts.digit_texts("ru")) + len(prompts.digit_texts("en"))
    assert {job.voice for job in jobs if job.language == "ru"} == {"ru"}
    picked = prompts.digit_jobs(("ru", "en"), ["digits/1f", "digits/5"])
    assert sorted(job.relative("wav") for job in picked) == ["en/digits/5.wav", "ru/digits/1f.wav",
                                                             "ru/digits/5.wav"]
    with pytest.raises(prompts.PromptError, match="digits/ten"):
        prompts.digit_jobs(("ru",), ["digits/ten"])


def test_a_sound_of_the_name_in_another_format_is_kept() -> None:
    listing = ["1.gsm", "1.wav", "1.sln", "1f.gsm", "10.ulaw", ".1.wav.x1.tmp", "1.wav.bak", "1"]
    assert prompts.other_formats(listing, "1") == ["gsm"]
    assert prompts.other_formats(listing, "10") == ["ulaw"]
    assert prompts.other_formats(listing, "2") == []
    ours = prompts.ManifestEntry("r1", {"wav": "w", "sln": "s"})
    nothing = {"wav": None, "sln": None}
    assert prompts.decide("r1", None, nothing, False, other_formats=True) is prompts.Action.KEEP
    assert prompts.decide("r1", ours, {"wav": "w", "sln": "s"}, False, other_formats=True) is prompts.Action.RETIRE
    assert prompts.decide("r1", ours, nothing, False, other_formats=True) is prompts.Action.KEEP
    assert prompts.decide("r1", None, nothing, True, other_formats=True) is prompts.Action.BUILD


# ---------------------------------------------------------------------------------------------------------
# Building with espeak-ng and sox.

SAMPLE = ["hotline/minutes", "hotline/main-menu", "status/closed"]  # the shortest, the longest, a status


def rms_amplitude(path: Path) -> float:
    stat = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True).stderr
    match = re.search(r"RMS\s+amplitude:\s+([0-9.]+)", stat)
    assert match, stat
    return float(match.group(1))


def mtimes(directory: Path) -> dict[str, int]:
    return {str(path.relative_to(directory)): path.stat().st_mtime_ns
            for path in sorted(directory.rglob("*")) if path.is_file()}


@needs_tools
def test_built_prompts_are_8khz_sound_and_a_rebuild_rewrites_nothing(
        tmp_path: Path, catalogue: dict[str, prompts.Prompt]) -> None:
    report = prompts.build(tmp_path, ("ru", "en"), catalogue=catalogue, names=SAMPLE, concurrency=3)
    assert not report.failed and not report.kept and not report.current
    assert sorted(built.path for built in report.built) == sorted(f"{lang}/{name}" for lang in ("ru", "en")
                                                                   for name in SAMPLE)
    for language in ("ru", "en"):
        for name in SAMPLE:
            wav_path = tmp_path / language / f"{name}.wav"
            with wave.open(str(wav_path), "rb") as reader:
                assert (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) == (8000, 1, 2)
                assert reader.getcomptype() == "NONE"
                frames = reader.getnframes()
            seconds = frames / 8000
            assert 0.3 <= seconds <= 15, (wav_path, seconds)
            info = subprocess.run(["sox", "--i", "-r", str(wav_path)], capture_output=True, text=True, check=True)
            assert info.stdout.strip() == "8000"
            assert rms_amplitude(wav_path) > 0.01, wav_path
            sln_path = wav_path.with_suffix(".sln")
            assert sln_path.stat().st_size == 2 * frames, sln_path  # the same samples, raw
    # The long menu is longer than the one word.
    durations = {built.path: built.seconds for built in report.built}
    assert durations["ru/hotline/main-menu"] > 3 * durations["ru/hotline/minutes"]

    before = mtimes(tmp_path)
    again = prompts.build(tmp_path, ("ru", "en"), catalogue=catalogue, names=SAMPLE)
    assert again.built == [] and len(again.current) == 6 and mtimes(tmp_path) == before
    assert sorted(again.durations["ru"]) == sorted(report.durations["ru"])

    # A changed text rebuilds that prompt alone; a recording put in place of a prompt is never overwritten.
    changed = dict(catalogue)
    changed["status/closed"] = prompts.Prompt("status/closed", {"ru": "Дело закрыто окончательно.", "en": "Closed."})
    recording = tmp_path / "ru" / "hotline" / "minutes.wav"
    recording.write_bytes(b"the department's own recording")
    third = prompts.build(tmp_path, ("ru", "en"), catalogue=changed, names=SAMPLE)
    assert sorted(built.path for built in third.built) == ["en/status/closed", "ru/status/closed"]
    # The stand-in's .sln beside the recording goes (Asterisk could play either); the recording is then kept.
    assert third.retired == ["ru/hotline/minutes"] and not recording.with_suffix(".sln").exists()
    assert recording.read_bytes() == b"the department's own recording"
    fourth = prompts.build(tmp_path, ("ru", "en"), catalogue=changed, names=SAMPLE)
    assert fourth.kept == ["ru/hotline/minutes"] and fourth.built == [] and fourth.retired == []
    assert recording.read_bytes() == b"the department's own recording"


DIGIT_SAMPLE = ["digits/0", "digits/1f", "digits/thousands-i", "digits/h-3", "digits/mon-0", "digits/at",
                "digits/oclock"]


def assert_8khz_sound(path: Path) -> float:
    with wave.open(str(path), "rb") as reader:
        assert (reader.getframerate(), reader.getnchannels(), reader.getsampwidth(), reader.getcomptype()) == (
            8000, 1, 2, "NONE"), path
        frames = reader.getnframes()
    assert rms_amplitude(path) > 0.01, path
    assert path.with_suffix(".sln").stat().st_size == 2 * frames, path
    return frames / 8000


@needs_tools
def test_built_digits_are_8khz_sound_and_asterisks_own_are_left_alone(
        tmp_path: Path, catalogue: dict[str, prompts.Prompt]) -> None:
    # Asterisk's own digits/5 (core-sounds, GSM) is there before the build; its own digits/oh comes as .wav.
    (tmp_path / "ru" / "digits").mkdir(parents=True)
    (tmp_path / "ru" / "digits" / "5.gsm").write_bytes(b"core-sounds-ru")
    (tmp_path / "ru" / "digits" / "oh.wav").write_bytes(b"core-sounds-ru wav")
    names = [*DIGIT_SAMPLE, "digits/5", "digits/oh"]
    report = prompts.build(tmp_path, ("ru", "en"), catalogue=catalogue, names=names, concurrency=3)
    assert not report.failed and sorted(report.kept) == ["ru/digits/5", "ru/digits/oh"]
    # digits/1f and digits/thousands-i are Russian only: say.c's English numbers never ask for them.
    assert sorted(built.path for built in report.built) == sorted(
        [f"ru/{name}" for name in DIGIT_SAMPLE] + [f"en/{name}" for name in DIGIT_SAMPLE
                                                    if name in prompts.digit_texts("en")] + ["en/digits/5",
                                                                                             "en/digits/oh"])
    for built in report.built:
        assert 0.2 <= assert_8khz_sound(tmp_path / f"{built.path}.wav") <= 2.5, built
    assert not (tmp_path / "ru" / "digits" / "5.wav").exists() and not (tmp_path / "ru" / "digits" / "oh.sln").exists()
    assert (tmp_path / "ru" / "digits" / "oh.wav").read_bytes() == b"core-sounds-ru wav"
    # The stand-ins are in the manifest with the hotline prompts; core-sounds-ru installed afterwards (as GSM)
    # takes their place: the stand-ins' files go, Asterisk's stay.
    assert "digits/1f" in prompts.read_manifest(tmp_path / "ru")
    (tmp_path / "ru" / "digits" / "1f.gsm").write_bytes(b"core-sounds-ru")
    again = prompts.build(tmp_path, ("ru", "en"), catalogue=catalogue, names=names)
    assert again.built == [] and again.retired == ["ru/digits/1f"]
    assert sorted(path.name for path in (tmp_path / "ru" / "digits").glob("1f.*")) == ["1f.gsm"]
    assert "digits/1f" not in prompts.read_manifest(tmp_path / "ru")
    assert prompts.kept_lines(again) == [
        "kept 2 ru/digits/* files not written by this tool (Asterisk's own sounds)",
        "removed 1 ru/digits/* stand-ins: Asterisk's own files of those names are there"]


@needs_tools
def test_the_command_builds_and_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts", "build", str(tmp_path), "--languages", "ru"]) == 0
    out = capsys.readouterr().out
    assert "built ru/hotline/welcome.wav .sln" in out and "built ru/digits/thousands-i.wav .sln" in out
    # 34 prompts of the catalogue and 86 Russian digits/* files.
    assert len(prompts.digit_texts("ru")) == 86
    assert re.search(r"built 120, up to date 0, kept 0, failed 0 in [0-9.]+ s", out), out
    assert re.search(r"ru: 120 prompts, [0-9.]+-[0-9.]+ s each", out), out
    assert not (tmp_path / "en").exists()
    assert main(["prompts", "build", str(tmp_path), "--languages", "ru"]) == 0
    assert "built 0, up to date 120" in capsys.readouterr().out
    assert prompts.command("build", str(tmp_path / "no-digits"), "ru", digits=False) == 0
    assert not (tmp_path / "no-digits" / "ru" / "digits").exists()
    assert "built 34, up to date 0" in capsys.readouterr().out
    assert main(["prompts", "list"]) == 0
    listed = capsys.readouterr().out
    assert "0 problem(s)" in listed and "digits/*: stand-ins for Asterisk's own number and date files" in listed
