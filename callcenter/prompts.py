"""The IVR's prompts: the catalogue, the prompts the dialplan names, and stand-in recordings.

The catalogue is every `hotline/*` prompt of `dialplans/prompts.md` (its Russian and English texts) and every
`status/*` prompt of the status vocabulary (`config/case_statuses.toml`, spoken with that status's texts). Until
the department records its own, `build` synthesises each prompt with espeak-ng and converts it with sox into
Asterisk's 8 kHz formats: `DIR/<lang>/<name>.wav` (8000 Hz mono 16-bit PCM, Asterisk's `wav`) and
`DIR/<lang>/<name>.sln` (the same samples raw, Asterisk's `slin`). Beside them it makes stand-ins for the
Asterisk sound files that SayDigits, SayNumber and SayUnixTime play (`DIR/<lang>/digits/...`, the standard
core-sounds names; see `digit_texts`), for an Asterisk without its core-sounds packages. A manifest in each
language directory records what was made from which text, so a rebuild redoes only what changed and never
overwrites a file that it did not write (a real recording put in its place, Asterisk's own digits in any format);
a stand-in with such a file of its name beside it is removed.

The pure part (parsing the catalogue, the dialplan and queues.conf, checking, planning, the commands to run)
comes first and does no I/O; the functions after `# I/O` read and write files and run the programs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import wave
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

PREFIXES = ("hotline/", "status/")  # the prompts this project provides; others are Asterisk's own sounds
LANGUAGES = ("ru", "en")
VOICES = {"ru": "ru", "en": "en"}  # channel language -> espeak-ng voice
SPEED = 150  # words per minute: a little slower than espeak-ng's 175, for the telephone
SAMPLE_RATE = 8000
# Trim leading and trailing silence lightly (below 0.1 % for 20 ms), resample to 8 kHz, peak at -3 dBFS, and
# leave 50 ms before and 100 ms after, so that prompts played one after another do not run together.
SOX_EFFECTS = ("silence", "1", "0.02", "0.1%", "reverse", "silence", "1", "0.02", "0.1%", "reverse",
               "rate", "-v", str(SAMPLE_RATE), "gain", "-n", "-3", "pad", "0.05", "0.1")
RECIPE_VERSION = 1  # bump to rebuild every prompt when the way they are made changes
EXTENSIONS = ("wav", "sln")
MANIFEST = ".callcenter-prompts.json"
PROGRAMS = {"espeak-ng": "espeak-ng", "sox": "sox"}  # program -> the Debian package that has it
_NAME = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*")


class PromptError(ValueError):
    """A catalogue that cannot be read, or a prompt that cannot be built as asked."""


class ToolMissing(RuntimeError):
    """espeak-ng or sox is not installed."""


@dataclass(frozen=True)
class Prompt:
    name: str  # as the dialplan plays it: hotline/closed
    texts: Mapping[str, str]  # language -> the text spoken
    heard_by: str = "caller"
    source: str = ""  # where it is defined, for messages

    def text(self, language: str) -> str:
        return self.texts.get(language, "").strip()


@dataclass(frozen=True)
class PromptUse:
    name: str
    source: str  # file:line and the application or setting


# ---------------------------------------------------------------------------------------------------------
# The catalogue.

_COLUMNS = {"file": "name", "heard by": "heard_by", "russian": "ru", "ru": "ru", "english": "en", "en": "en"}


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def check_name(name: str, where: str) -> str:
    """A prompt name is a relative path of plain words (it becomes a file name under DIR/<lang>/)."""
    if not _NAME.fullmatch(name):
        raise PromptError(f"{where}: {name!r} is not a prompt name (words of A-Z a-z 0-9 _ - joined by /)")
    return name


def parse_prompt_table(markdown: str, source: str = "prompts.md") -> list[Prompt]:
    """The prompts of every Markdown table whose first column is `file` (dialplans/prompts.md)."""
    prompts: list[Prompt] = []
    header: list[str] | None = None
    for number, line in enumerate(markdown.splitlines(), start=1):
        if not line.lstrip().startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            if cells[0].lower() != "file":
                continue
            unknown = [cell for cell in cells if cell.lower() not in _COLUMNS]
            if unknown:
                raise PromptError(f"{source}:{number}: unknown column(s) {', '.join(unknown)}")
            header = [_COLUMNS[cell.lower()] for cell in cells]
            continue
        if all(set(cell) <= set("-: ") for cell in cells):
            continue  # the |---|---| row
        where = f"{source}:{number}"
        if len(cells) != len(header):
            raise PromptError(f"{where}: {len(cells)} cells, the table has {len(header)} columns")
        row = dict(zip(header, cells, strict=True))
        name = check_name(row.pop("name").strip("`"), where)
        heard_by = row.pop("heard_by", "") or "caller"
        prompts.append(Prompt(name, row, heard_by, where))
    return prompts


def status_prompt_names(toml_text: str) -> dict[str, tuple[str, ...]]:
    """Status code -> the prompts the IVR plays for it (config/case_statuses.toml)."""
    document = tomllib.loads(toml_text)
    return {code: tuple(str(name) for name in entry.get("prompts", []))
            for code, entry in document.items() if isinstance(entry, dict)}


def parse_status_prompts(toml_text: str, source: str = "case_statuses.toml") -> list[Prompt]:
    """Each status's own `status/*` prompt, spoken with the status's `ru` and `en` texts. Other prompts a
    status names (a `hotline/*` one) have their texts in prompts.md."""
    prompts: dict[str, Prompt] = {}
    for code, entry in tomllib.loads(toml_text).items():
        where = f"{source} [{code}]"
        if not isinstance(entry, dict):
            raise PromptError(f"{where}: not a table")
        own = [str(name) for name in entry.get("prompts", []) if str(name).startswith("status/")]
        if len(own) > 1:
            raise PromptError(f"{where}: {len(own)} status/* prompts, but the status has one text to speak")
        texts = {language: str(entry.get(language, "")) for language in LANGUAGES}
        for name in own:
            prompt = Prompt(check_name(name, where), texts, "caller", where)
            earlier = prompts.get(name)
            if earlier is not None and dict(earlier.texts) != texts:
                raise PromptError(f"{where}: {name} is also in {earlier.source}, with other texts")
            prompts.setdefault(name, prompt)
    return list(prompts.values())


def merge(*groups: Iterable[Prompt]) -> dict[str, Prompt]:
    catalogue: dict[str, Prompt] = {}
    for group in groups:
        for prompt in group:
            earlier = catalogue.get(prompt.name)
            if earlier is not None:
                raise PromptError(f"{prompt.source}: {prompt.name} is defined twice (also {earlier.source})")
            catalogue[prompt.name] = prompt
    return catalogue


# ---------------------------------------------------------------------------------------------------------
# The prompts the dialplan and queues.conf name.

# Application -> the argument (from 0) that holds prompt names joined by '&'.
PROMPT_ARGUMENTS = {"playback": 0, "background": 0, "controlplayback": 0, "backgrounddetect": 0, "read": 1,
                    "queue": 3}  # Queue(name,options,URL,announceoverride,...)
_APPLICATION = re.compile(r"(?<![\w$])(" + "|".join(PROMPT_ARGUMENTS) + r")\s*\(", re.IGNORECASE)
_OPEN, _CLOSE = "([{", ")]}"


def config_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) without Asterisk comments: `;` to the end of the line (not `\\;`), and `;-- --;`."""
    lines: list[tuple[int, str]] = []
    in_block = False
    for number, raw in enumerate(text.splitlines(), start=1):
        kept: list[str] = []
        i = 0
        while i < len(raw):
            if in_block:
                end = raw.find("--;", i)
                if end < 0:
                    break
                in_block, i = False, end + 3
                continue
            char = raw[i]
            if char == "\\" and i + 1 < len(raw):
                kept.append(raw[i:i + 2])
                i += 2
                continue
            if char == ";":
                if raw.startswith(";--", i):
                    in_block, i = True, i + 3
                    continue
                break
            kept.append(char)
            i += 1
        line = "".join(kept).strip()
        if line:
            lines.append((number, line))
    return lines


def _closing(text: str, start: int) -> int:
    """The index of the `)` that closes the `(` just before `start` (or len(text) when it is missing)."""
    depth = 0
    quoted = False
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and char in _OPEN:
            depth += 1
        elif not quoted and char in _CLOSE:
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return len(text)


def split_arguments(text: str, separator: str = ",") -> list[str]:
    """Split at `separator` outside brackets, `${...}`/`$[...]` and double quotes, as Asterisk does."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current.append(text[i:i + 2])
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and char in _OPEN:
            depth += 1
        elif not quoted and char in _CLOSE:
            depth = max(0, depth - 1)
        elif char == separator and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def literal_names(argument: str, prefixes: Sequence[str] = PREFIXES) -> list[str]:
    """The literal prompt names in an argument of `&`-joined names; a name built from a variable is left out."""
    names = []
    for piece in split_arguments(argument, "&"):
        name = piece.strip().strip('"').strip()
        if name and "$" not in name and name.startswith(tuple(prefixes)):
            names.append(name)
    return names


def dialplan_prompts(text: str, source: str = "extensions.conf",
                     prefixes: Sequence[str] = PREFIXES) -> list[PromptUse]:
    """Every literal prompt a dialplan plays with Playback, Background, ControlPlayback, BackgroundDetect,
    Read (its second argument) or Queue (its announce override), also inside ExecIf and the like."""
    uses: list[PromptUse] = []
    for number, line in config_lines(text):
        for match in _APPLICATION.finditer(line):
            application = match.group(1)
            body = line[match.end():_closing(line, match.end())]
            arguments = split_arguments(body)
            index = PROMPT_ARGUMENTS[application.lower()]
            if index < len(arguments):
                uses.extend(PromptUse(name, f"{source}:{number} {application}")
                            for name in literal_names(arguments[index], prefixes))
    return uses


def queue_prompts(text: str, source: str = "queues.conf", prefixes: Sequence[str] = PREFIXES) -> list[PromptUse]:
    """Every setting of queues.conf whose value names one of our prompts (periodic-announce, announce,
    queue-thankyou, ...); lists there are comma- or `|`-separated."""
    uses: list[PromptUse] = []
    for number, line in config_lines(text):
        setting = re.fullmatch(r"([\w-]+)\s*=>?\s*(.*)", line)
        if setting is None:
            continue
        key, value = setting.groups()
        for piece in re.split(r"[,|]", value):
            uses.extend(PromptUse(name, f"{source}:{number} {key}") for name in literal_names(piece, prefixes))
    return uses


def problems(catalogue: Mapping[str, Prompt], uses: Iterable[PromptUse],
             languages: Sequence[str] = LANGUAGES) -> list[str]:
    """What stops the IVR from speaking: a prompt named without a text, or a prompt without a text in a
    language."""
    found = [f"{use.source}: {use.name} is not in the catalogue (add it to dialplans/prompts.md)"
             for use in uses if use.name not in catalogue]
    for prompt in catalogue.values():
        found.extend(f"{prompt.source}: {prompt.name} has no {language} text"
                     for language in languages if not prompt.text(language))
    return found


# ---------------------------------------------------------------------------------------------------------
# Asterisk's own number and date files (`digits/*`).
#
# SayDigits, SayNumber and SayUnixTime do not play our prompts: they play Asterisk's standard files, which come
# with its core-sounds packages. Without them the caller hears nothing where a number should be, and where
# say.c plays a file through wait_file or say_filenames (every SayUnixTime file, every English SayNumber file)
# the missing file ends the application with -1 and the call with it. These are stand-ins for exactly the files
# Asterisk 22's main/say.c asks for, in Russian and English, for what the dialplan says:
#
# - SayDigits(N): ast_get_digit_str, `digits/0`..`digits/9` (a file it does not find is left out);
# - SayNumber(N), N up to 9999: ast_say_number_full_ru -- `digits/0`..`19`, `digits/20`..`90`, `digits/100`..
#   `900`, `digits/1f` and `digits/2f` (feminine, before тысяча), `digits/thousand` (1), `digits/thousands-i`
#   (2-4), `digits/thousands` (5-9); get_number_str_en -- `digits/0`..`19`, `20`..`90`, `hundred`, `thousand`;
#   `digits/minus` for a negative number;
# - SayUnixTime with 'AdBY' and "AdBY 'digits/at' HM": there is no Russian date code, so Russian takes
#   ast_say_date_with_format_en too -- A `digits/day-0` (Sunday)..`day-6`; d the day of the month through
#   ast_say_enumeration_full_en, which has no Russian either: `digits/h-1`..`h-20`, `h-30`, and `digits/20` or
#   `digits/30` before `h-1`..`h-9` (21st = `digits/20` `digits/h-1`); B `digits/mon-0` (January)..`mon-11`;
#   Y SayNumber of the year (a year 1901-1999 is `digits/19`, `digits/oh` for 1901-1909, then SayNumber of
#   the rest); 'digits/at' itself; H `digits/oh` before an hour under 10, then `digits/1`..`digits/20` (an
#   hour over 20 is `digits/20` and the rest; midnight is `digits/oh` alone); M `digits/oclock` at minute 0,
#   `digits/oh` and `digits/1`..`9` under 10, else SayNumber.
#
# Russian texts are the forms those sequences need: the day of the month is a neuter ordinal (первое, двадцать
# первое -- число), the month the genitive (января), feminine одна/две before тысяча/тысячи, and `digits/oh` /
# `digits/oclock` the way a time is read out digit by digit (в ноль восемь ноль-ноль). The year stays cardinal
# (две тысячи двадцать пять): say.c asks for no other form.

DIGITS = "digits/"

_RU_ONES = ("ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять", "десять",
            "одиннадцать", "двенадцать", "тринадцать", "четырнадцать", "пятнадцать", "шестнадцать", "семнадцать",
            "восемнадцать", "девятнадцать")
_RU_TENS = ("двадцать", "тридцать", "сорок", "пятьдесят", "шестьдесят", "семьдесят", "восемьдесят", "девяносто")
_RU_HUNDREDS = ("сто", "двести", "триста", "четыреста", "пятьсот", "шестьсот", "семьсот", "восемьсот",
                "девятьсот")
_RU_DAYS = ("воскресенье", "понедельник", "вторник", "среда", "четверг", "пятница", "суббота")  # tm_wday 0-6
_RU_MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
              "ноября", "декабря")  # genitive: первое января
_RU_ORDINALS = ("первое", "второе", "третье", "четвёртое", "пятое", "шестое", "седьмое", "восьмое", "девятое",
                "десятое", "одиннадцатое", "двенадцатое", "тринадцатое", "четырнадцатое", "пятнадцатое",
                "шестнадцатое", "семнадцатое", "восемнадцатое", "девятнадцатое", "двадцатое")  # h-1..h-20
_RU_OTHERS = {
    "1f": "одна", "2f": "две", "thousand": "тысяча", "thousands-i": "тысячи", "thousands": "тысяч",
    "minus": "минус", "h-30": "тридцатое", "oh": "ноль", "oclock": "ноль-ноль",
    "at": "[[v@]]",  # в: espeak-ng reads a lone "в" as the letter's name (вэ), so it is given as phonemes
}

_EN_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
            "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_EN_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_EN_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")
_EN_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
                "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
                "eighteenth", "nineteenth", "twentieth")
_EN_OTHERS = {"hundred": "hundred", "thousand": "thousand", "minus": "minus", "h-30": "thirtieth", "oh": "oh",
              "oclock": "o'clock", "at": "at"}


def digit_texts(language: str) -> dict[str, str]:
    """File name -> text of the stand-in `digits/*` files for `language` (empty for a language without them)."""
    if language == "ru":
        ones, tens, days, months, ordinals, others = (_RU_ONES, _RU_TENS, _RU_DAYS, _RU_MONTHS, _RU_ORDINALS,
                                                      _RU_OTHERS)
        hundreds = {f"{100 * (i + 1)}": text for i, text in enumerate(_RU_HUNDREDS)}
    elif language == "en":
        ones, tens, days, months, ordinals, others = (_EN_ONES, _EN_TENS, _EN_DAYS, _EN_MONTHS, _EN_ORDINALS,
                                                      _EN_OTHERS)
        hundreds = {}
    else:
        return {}
    texts = {str(n): text for n, text in enumerate(ones)}
    texts.update({str(10 * (i + 2)): text for i, text in enumerate(tens)})
    texts.update(hundreds)
    texts.update({f"day-{i}": text for i, text in enumerate(days)})
    texts.update({f"mon-{i}": text for i, text in enumerate(months)})
    texts.update({f"h-{i + 1}": text for i, text in enumerate(ordinals)})
    texts.update(others)
    return {DIGITS + name: text for name, text in texts.items()}


def digit_jobs(languages: Sequence[str], names: Iterable[str] | None = None) -> list[Job]:
    """The stand-in `digits/*` files to make (all, or `names`) for each language that has them."""
    check_languages(languages)
    tables = {language: digit_texts(language) for language in languages}
    selected = None if names is None else list(names)
    if selected is not None:
        known = {name for table in tables.values() for name in table}
        unknown = [name for name in selected if name not in known]
        if unknown:
            raise PromptError(f"not Asterisk digits/* files this tool makes: {', '.join(unknown)}")
    return [Job(name, language, VOICES[language], text)
            for language, table in tables.items()
            for name, text in table.items() if selected is None or name in selected]


# ---------------------------------------------------------------------------------------------------------
# Planning a build.

@dataclass(frozen=True)
class Job:
    name: str
    language: str
    voice: str
    text: str

    @property
    def recipe(self) -> str:
        """What the files are made from: a rebuild is needed when this changes."""
        blob = json.dumps({"text": self.text, "voice": self.voice, "speed": SPEED, "effects": SOX_EFFECTS,
                           "version": RECIPE_VERSION}, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def relative(self, extension: str) -> str:
        return f"{self.language}/{self.name}.{extension}"


@dataclass(frozen=True)
class ManifestEntry:
    recipe: str
    files: Mapping[str, str]  # extension -> sha256 of the file as written


class Action(Enum):
    BUILD = "build"
    CURRENT = "up to date"
    KEEP = "kept"  # a file there was not written by this tool
    RETIRE = "stand-in removed"  # a file of that name not written by this tool, beside the stand-in's own


def decide(recipe: str, entry: ManifestEntry | None, on_disk: Mapping[str, str | None], force: bool,
           other_formats: bool = False) -> Action:
    """on_disk: extension -> the digest of the file there, or None when there is none; other_formats: a file of
    that name in a format this tool does not write (Asterisk's own digits/1.gsm, a recording as .ulaw) is there.

    A file of the name that this tool did not write, in any format, is a recording: it is kept, and what is left
    of the stand-in (the files whose digests the manifest has) is to be removed, since Asterisk plays whichever
    format is cheapest to convert and that can be the stand-in's .sln."""
    if force:
        return Action.BUILD
    present = {extension: digest for extension, digest in on_disk.items() if digest is not None}
    ours = [extension for extension, digest in present.items()
            if entry is not None and entry.files.get(extension) == digest]
    if other_formats or len(ours) < len(present):
        return Action.RETIRE if ours else Action.KEEP
    if entry is not None and entry.recipe == recipe and len(present) == len(on_disk):
        return Action.CURRENT
    return Action.BUILD


def other_formats(file_names: Iterable[str], stem: str) -> list[str]:
    """The extensions of the files `<stem>.<extension>` among `file_names` (one directory's), other than those
    this tool writes: the same sound in another format."""
    found = []
    for file_name in file_names:
        name, dot, extension = file_name.rpartition(".")
        if dot and name == stem and extension and extension not in EXTENSIONS:
            found.append(extension)
    return sorted(found)


def check_languages(languages: Sequence[str]) -> None:
    unknown = [language for language in languages if language not in VOICES]
    if unknown:
        raise PromptError(f"no espeak-ng voice for language(s) {', '.join(unknown)} (known: {', '.join(VOICES)})")


def jobs_for(catalogue: Mapping[str, Prompt], languages: Sequence[str],
             names: Iterable[str] | None = None) -> list[Job]:
    check_languages(languages)
    selected = list(catalogue) if names is None else list(names)
    missing = [name for name in selected if name not in catalogue]
    if missing:
        raise PromptError(f"not in the catalogue: {', '.join(missing)}")
    jobs = []
    for language in languages:
        for name in selected:
            prompt = catalogue[name]
            if not prompt.text(language):
                raise PromptError(f"{prompt.source}: {name} has no {language} text")
            jobs.append(Job(name, language, VOICES[language], prompt.text(language)))
    return jobs


def espeak_command(program: str, voice: str, output: Path) -> list[str]:
    """espeak-ng reading UTF-8 text on its standard input, writing a WAV file (22050 Hz)."""
    return [program, "-v", voice, "-s", str(SPEED), "-b", "1", "-w", str(output)]


def sox_command(program: str, source: Path, output: Path) -> list[str]:
    """sox to Asterisk's `wav`: 8000 Hz, mono, 16-bit signed PCM (no dither, so that a rebuild is identical)."""
    return [program, "-D", "-V1", str(source), "-t", "wav", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
            "-e", "signed-integer", str(output), *SOX_EFFECTS]


def missing_programs_message(missing: Sequence[str]) -> str:
    packages = " ".join(PROGRAMS[program] for program in missing)
    plural = "s" if len(missing) > 1 else ""
    return (f"{' and '.join(missing)} not found: install the Debian package{plural} {packages} "
            f"(apt-get install {packages})")


def pcm_samples(wav_bytes: bytes) -> bytes:
    """The raw samples (Asterisk's slin) of an 8 kHz mono 16-bit PCM WAV; PromptError for anything else."""
    with wave.open(io.BytesIO(wav_bytes), "rb") as reader:
        shape = (reader.getframerate(), reader.getnchannels(), reader.getsampwidth(), reader.getcomptype())
        if shape != (SAMPLE_RATE, 1, 2, "NONE"):
            raise PromptError(f"sox wrote {shape[0]} Hz, {shape[1]} channel(s), {8 * shape[2]}-bit {shape[3]}")
        return reader.readframes(reader.getnframes())


def seconds(samples: bytes) -> float:
    return len(samples) / 2 / SAMPLE_RATE


@dataclass(frozen=True)
class Built:
    path: str  # relative to the directory: ru/hotline/closed (.wav and .sln)
    seconds: float


@dataclass
class BuildReport:
    built: list[Built] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)  # stand-ins removed: a recording of the name is there
    failed: list[str] = field(default_factory=list)
    durations: dict[str, list[float]] = field(default_factory=dict)  # language -> each prompt's seconds
    elapsed: float = 0.0


def format_seconds(value: float) -> str:
    minutes, rest = divmod(value, 60)
    return f"{int(minutes)}:{rest:04.1f}" if minutes else f"{rest:.1f} s"


def _digit_file(path: str) -> bool:
    return path.partition("/")[2].startswith(DIGITS)


def _per_language(paths: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in paths:
        language = path.partition("/")[0]
        counts[language] = counts.get(language, 0) + 1
    return counts


def kept_lines(report: BuildReport) -> list[str]:
    """A line per prompt kept or whose stand-in was removed; for the digits/* files (Asterisk's own, a whole
    core-sounds package of them) a line per language."""
    lines = [f"kept {path}: a file there was not written by this tool (remove it, or use --force to replace it)"
             for path in report.kept if not _digit_file(path)]
    lines += [f"removed the stand-in {path}: a file of that name not written by this tool is there"
              for path in report.retired if not _digit_file(path)]
    lines += [f"kept {count} {language}/digits/* files not written by this tool (Asterisk's own sounds)"
              for language, count in _per_language(filter(_digit_file, report.kept)).items()]
    lines += [f"removed {count} {language}/digits/* stand-ins: Asterisk's own files of those names are there"
              for language, count in _per_language(filter(_digit_file, report.retired)).items()]
    return lines


def summary(report: BuildReport) -> list[str]:
    retired = f", stand-ins removed {len(report.retired)}" if report.retired else ""
    lines = [f"built {len(report.built)}, up to date {len(report.current)}, kept {len(report.kept)}{retired}, "
             f"failed {len(report.failed)} in {report.elapsed:.1f} s"]
    for language, durations in report.durations.items():
        if durations:
            lines.append(f"  {language}: {len(durations)} prompts, {min(durations):.2f}-{max(durations):.2f} s each, "
                         f"{format_seconds(sum(durations))} in all")
    return lines


# ---------------------------------------------------------------------------------------------------------
# I/O: the catalogue files, the programs, the files written.

def _project_file(relative: str) -> Path:
    """A file of the project: beside the package (a checkout), else under the working directory (the image)."""
    beside = Path(__file__).resolve().parents[1] / relative
    return beside if beside.exists() else Path.cwd() / relative


def default_paths() -> dict[str, Path]:
    return {"table": _project_file("dialplans/prompts.md"), "statuses": _project_file("config/case_statuses.toml"),
            "dialplan": _project_file("dialplans/extensions.conf"), "queues": _project_file("config/queues.conf")}


def load_catalogue(table: Path | None = None, statuses: Path | None = None) -> dict[str, Prompt]:
    paths = default_paths()
    table = table or paths["table"]
    statuses = statuses or paths["statuses"]
    return merge(parse_prompt_table(table.read_text(encoding="utf-8"), table.name),
                 parse_status_prompts(statuses.read_text(encoding="utf-8"), statuses.name))


def load_uses(dialplan: Path | None = None, queues: Path | None = None) -> list[PromptUse]:
    paths = default_paths()
    dialplan = dialplan or paths["dialplan"]
    queues = queues or paths["queues"]
    return (dialplan_prompts(dialplan.read_text(encoding="utf-8"), dialplan.name)
            + queue_prompts(queues.read_text(encoding="utf-8"), queues.name))


def find_programs() -> dict[str, str]:
    found = {program: shutil.which(program) for program in PROGRAMS}
    missing = [program for program, path in found.items() if path is None]
    if missing:
        raise ToolMissing(missing_programs_message(missing))
    return {program: path for program, path in found.items() if path is not None}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path) -> str | None:
    try:
        return _digest(path.read_bytes())
    except FileNotFoundError:
        return None


def read_manifest(language_dir: Path) -> dict[str, ManifestEntry]:
    try:
        document: Any = json.loads((language_dir / MANIFEST).read_text(encoding="utf-8"))
        return {name: ManifestEntry(str(entry["recipe"]), {str(k): str(v) for k, v in entry["files"].items()})
                for name, entry in document["prompts"].items()}
    except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # none, or not one of ours: everything there counts as not ours


def write_atomically(path: Path, data: bytes) -> None:
    """Asterisk may open the file at any moment: it sees the old one or the new one, never half of one."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # Asterisk runs as its own user
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_manifest(language_dir: Path, entries: Mapping[str, ManifestEntry]) -> None:
    document = {"about": "prompts written by `callcenter prompts build`; files not listed here are not touched",
                "prompts": {name: {"recipe": entry.recipe, "files": dict(entry.files)}
                            for name, entry in sorted(entries.items())}}
    write_atomically(language_dir / MANIFEST, (json.dumps(document, indent=1) + "\n").encode("utf-8"))


def _run(command: list[str], stdin: bytes | None, job: Job) -> None:
    result = subprocess.run(command, input=stdin, capture_output=True, timeout=120, check=False)  # noqa: S603
    if result.returncode != 0:
        said = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PromptError(f"{job.relative('wav')}: {Path(command[0]).name} exited with {result.returncode}"
                          + (f": {said[-1]}" if said else ""))


def synthesise(job: Job, directory: Path, programs: Mapping[str, str]) -> tuple[ManifestEntry, float]:
    """Speak one prompt in one language and write its .wav and .sln."""
    with tempfile.TemporaryDirectory(prefix="callcenter-prompt-") as work:
        spoken, converted = Path(work) / "espeak.wav", Path(work) / "8k.wav"
        _run(espeak_command(programs["espeak-ng"], job.voice, spoken), job.text.encode("utf-8"), job)
        _run(sox_command(programs["sox"], spoken, converted), None, job)
        wav_bytes = converted.read_bytes()
    samples = pcm_samples(wav_bytes)
    if not samples:
        raise PromptError(f"{job.relative('wav')}: nothing left after trimming the silence")
    contents = {"wav": wav_bytes, "sln": samples}
    target = directory / job.relative("wav")
    target.parent.mkdir(parents=True, exist_ok=True)
    for extension, data in contents.items():
        write_atomically(directory / job.relative(extension), data)
    return ManifestEntry(job.recipe, {extension: _digest(data) for extension, data in contents.items()}), \
        seconds(samples)


def default_concurrency() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _listing(directory: Path, cache: dict[Path, list[str]]) -> list[str]:
    if directory not in cache:
        try:
            cache[directory] = os.listdir(directory)
        except (FileNotFoundError, NotADirectoryError):
            cache[directory] = []
    return cache[directory]


def _retire(job: Job, root: Path, entry: ManifestEntry | None) -> None:
    """Remove the stand-in's own files of a prompt (those still as this tool wrote them)."""
    for extension in EXTENSIONS:
        path = root / job.relative(extension)
        if entry is not None and _file_digest(path) == entry.files.get(extension):
            path.unlink()


def build(directory: str | Path, languages: Sequence[str] = LANGUAGES, *,
          catalogue: Mapping[str, Prompt] | None = None, names: Iterable[str] | None = None, digits: bool = True,
          force: bool = False, concurrency: int | None = None,
          progress: Callable[[str], None] | None = None) -> BuildReport:
    """Synthesise the prompts into DIR/<lang>/<name>.wav and .sln: the catalogue's and (`digits`) the stand-ins
    for Asterisk's `digits/*` files, or just `names` (of either); skip those already made from the same text and
    voice, keep any file this tool did not write, in any format, and remove a stand-in's files when such a file of
    its name is there (unless `force`, which rebuilds all)."""
    started = time.perf_counter()
    root = Path(directory)
    chosen = None if names is None else list(names)
    jobs = jobs_for(catalogue if catalogue is not None else load_catalogue(), languages,
                    None if chosen is None else [name for name in chosen if not name.startswith(DIGITS)])
    if chosen is not None:
        jobs += digit_jobs(languages, [name for name in chosen if name.startswith(DIGITS)])
    elif digits:
        jobs += digit_jobs(languages)
    report = BuildReport(durations={language: [] for language in languages})
    manifests = {language: read_manifest(root / language) for language in languages}
    listings: dict[Path, list[str]] = {}
    changed: set[str] = set()
    todo: list[Job] = []
    for job in jobs:
        entry = manifests[job.language].get(job.name)
        on_disk = {extension: _file_digest(root / job.relative(extension)) for extension in EXTENSIONS}
        wav_path = root / job.relative("wav")
        others = bool(other_formats(_listing(wav_path.parent, listings), wav_path.stem))
        action = decide(job.recipe, entry, on_disk, force, others)
        if action is Action.BUILD:
            todo.append(job)
        elif action is Action.CURRENT:
            report.current.append(f"{job.language}/{job.name}")
            with wave.open(str(wav_path), "rb") as reader:
                report.durations[job.language].append(reader.getnframes() / reader.getframerate())
        elif action is Action.RETIRE:
            _retire(job, root, entry)
            manifests[job.language].pop(job.name, None)
            changed.add(job.language)
            report.retired.append(f"{job.language}/{job.name}")
        else:
            report.kept.append(f"{job.language}/{job.name}")
    if todo:
        programs = find_programs()
        for language in {job.language for job in todo}:
            (root / language).mkdir(parents=True, exist_ok=True)  # one clear error when DIR is not writable
        with ThreadPoolExecutor(max_workers=max(1, concurrency or default_concurrency())) as pool:
            futures: dict[Future[tuple[ManifestEntry, float]], Job] = {
                pool.submit(synthesise, job, root, programs): job for job in todo}
            for future in as_completed(futures):
                job = futures[future]
                try:
                    entry, length = future.result()
                except (PromptError, OSError, subprocess.SubprocessError) as exc:
                    failure = str(exc) if isinstance(exc, PromptError) else f"{job.relative('wav')}: {exc}"
                    report.failed.append(failure)
                    if progress:
                        progress(f"failed {failure}")
                    continue
                manifests[job.language][job.name] = entry
                changed.add(job.language)
                report.built.append(Built(f"{job.language}/{job.name}", length))
                report.durations[job.language].append(length)
                if progress:
                    progress(f"built {job.language}/{job.name}.wav .sln  {length:.2f} s")
    for language in sorted(changed):
        write_manifest(root / language, manifests[language])
    report.built.sort(key=lambda built: built.path)
    report.elapsed = time.perf_counter() - started
    return report


# ---------------------------------------------------------------------------------------------------------
# The `callcenter prompts` command (callcenter/cli.py hands it its arguments).

def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def command(action: str, directory: str | None, languages: str = ",".join(LANGUAGES), force: bool = False,
            concurrency: int | None = None, out: Callable[[str], None] = print,
            err: Callable[[str], None] = _stderr, digits: bool = True) -> int:
    """`prompts list`, or `prompts build DIR`: what was built and the totals on `out`, errors on `err`;
    `digits=False` leaves out the stand-ins for Asterisk's `digits/*` files."""
    try:
        catalogue = load_catalogue()
        uses = load_uses()
    except (PromptError, OSError) as exc:
        err(f"error: {exc}")
        return 1
    if action == "list":
        return _list(catalogue, uses, out, err)
    try:
        if not directory:
            err("error: prompts build needs a directory, e.g. /var/lib/asterisk/sounds")
            return 2
        wanted = tuple(language.strip() for language in languages.split(",") if language.strip())
        check_languages(wanted)
        found = problems(catalogue, uses, wanted)
        if found:
            for problem in found:
                err(f"error: {problem}")
            return 1
        report = build(directory, wanted, catalogue=catalogue, digits=digits, force=force, concurrency=concurrency,
                       progress=out)
    except (PromptError, ToolMissing, OSError) as exc:
        err(f"error: {exc}")
        return 1
    for line in kept_lines(report):
        out(line)
    for line in summary(report):
        out(line)
    return 1 if report.failed else 0


def _list(catalogue: Mapping[str, Prompt], uses: Sequence[PromptUse], out: Callable[[str], None],
          err: Callable[[str], None]) -> int:
    used_by: dict[str, list[str]] = {}
    for use in uses:
        used_by.setdefault(use.name, []).append(use.source)
    for prompt in catalogue.values():
        where = ", ".join(used_by.get(prompt.name, [])) or prompt.source
        out(f"{prompt.name}  ({prompt.heard_by}; {where})")
        for language in LANGUAGES:
            out(f"    {language}: {prompt.text(language)}")
    found = problems(catalogue, uses)
    for problem in found:
        err(f"error: {problem}")
    digit_counts = ", ".join(f"{len(digit_texts(language))} {language}" for language in LANGUAGES)
    out(f"digits/*: stand-ins for Asterisk's own number and date files (SayDigits, SayNumber, SayUnixTime), "
        f"{digit_counts}")
    out(f"{len(catalogue)} prompts, {len(used_by)} named by the dialplan and queues.conf, {len(found)} problem(s)")
    return 1 if found else 0
