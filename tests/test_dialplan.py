"""The Asterisk files parsed the way Asterisk reads them: every jump lands somewhere that exists."""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO

APPLICATIONS = {
    "Answer", "Background", "Dial", "EndWhile", "ExecIf", "Gosub", "Goto", "GotoIf", "Hangup", "NoOp", "Playback",
    "Queue", "Read", "Return", "SayDigits", "SayNumber", "SayUnixTime", "Set", "UserEvent", "Wait", "WaitExten",
    "While", "Ringing", "QueueLog",
}
# Contexts the service names in its AMI Originates (callbacks) and queue member interfaces.
SERVICE_CONTEXTS = {"agents", "callback-operator-first", "callback-resident-first", "callback-placeholder"}


@dataclass
class Context:
    extensions: dict[str, set[str]] = field(default_factory=dict)  # exten -> priorities/labels
    includes: list[str] = field(default_factory=list)


def parse(path: Path) -> tuple[dict[str, Context], list[tuple[int, str, str, str]]]:
    """Contexts with their extensions and labels, and (line, context, application, args) for every step."""
    contexts: dict[str, Context] = {}
    steps: list[tuple[int, str, str, str]] = []
    current: str | None = None
    exten: str | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split(";", 1)[0].strip() if not raw.lstrip().startswith(";") else ""
        if not line:
            continue
        if section := re.fullmatch(r"\[([\w-]+)\](\(.*\))?", line):
            current = section.group(1)
            contexts[current] = Context()
            continue
        assert current is not None, f"line {number} outside a context"
        if include := re.fullmatch(r"include\s*=>\s*([\w-]+)", line):
            contexts[current].includes.append(include.group(1))
            continue
        step = re.fullmatch(r"(exten|same)\s*=>\s*(?:([^,]+),)?(\w+)(?:\(([\w-]+)\))?,(\w+)\((.*)\)", line)
        if current in ("general", "globals"):
            assert "=" in line, f"line {number}: {line}"
            continue
        assert step, f"line {number} is not an extension step: {line}"
        kind, name, priority, label, app, args = step.groups()
        if kind == "exten":
            exten = name
            assert priority == "1" or exten in contexts[current].extensions, f"line {number}: first priority"
        assert exten is not None, f"line {number}: 'same' before any 'exten'"
        marks = contexts[current].extensions.setdefault(exten, set())
        marks.add("1" if priority == "1" else "n")
        if label:
            marks.add(label)
        assert args.count("(") == args.count(")"), f"line {number}: unbalanced parentheses"
        steps.append((number, current, app, args))
    return contexts, steps


def exten_matches(pattern: str, exten: str) -> bool:
    if pattern == exten:
        return True
    if not pattern.startswith("_"):
        return False
    regex = ""
    # A [...] set is a character class as in a regex ([1-3], [235]); everything else one character at a time.
    for part in re.findall(r"\[[^\]]*\]|.", pattern[1:]):
        regex += part if part.startswith("[") else \
            {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}.get(part, re.escape(part))
    return re.fullmatch(regex, exten) is not None


def resolve(contexts: dict[str, Context], context: str, exten: str, priority: str, where: str) -> None:
    assert context in contexts, f"{where}: no context [{context}]"
    if "$" in exten:
        return  # a variable extension: the context is all that can be checked
    matches = [p for p in contexts[context].extensions if exten_matches(p, exten)]
    assert matches, f"{where}: no extension {exten} in [{context}]"
    if "$" not in priority:
        assert any(priority in contexts[context].extensions[p] for p in matches), \
            f"{where}: no priority/label {priority} at {exten}@{context}"


def targets(app: str, args: str) -> list[str]:
    """Jump targets of Goto/Gosub args, and both branches of GotoIf."""
    if app == "GotoIf":
        branches = args.split("?", 1)[1]
        return [b for b in branches.split(":") if b]
    return [args]


CONTEXTS, STEPS = parse(REPO / "dialplans" / "extensions.conf")


def test_every_application_is_an_asterisk_application() -> None:
    unknown = {(n, app) for n, _, app, _ in STEPS if app not in APPLICATIONS}
    assert not unknown


@pytest.mark.parametrize(("number", "context", "app", "args"),
                         [s for s in STEPS if s[2] in ("Goto", "GotoIf", "Gosub")])
def test_every_jump_lands_on_an_existing_step(number: int, context: str, app: str, args: str) -> None:
    for target in targets(app, args if app != "Gosub" else re.sub(r"\(.*\)$", "", args)):
        parts = [p.strip() for p in target.split(",")]
        if len(parts) == 3:
            resolve(CONTEXTS, parts[0], parts[1], parts[2], f"line {number}")
        elif len(parts) == 2:
            resolve(CONTEXTS, context, parts[0], parts[1], f"line {number}")
        else:  # a label in the same extension
            labels = set().union(*CONTEXTS[context].extensions.values())
            assert parts[0] in labels, f"line {number}: no label {parts[0]} in [{context}]"


def test_jumps_inside_expressions_too() -> None:
    # ExecIf(...?Return(...)) and friends carry no jumps; GotoIf with labels only is covered above.
    assert any(app == "GotoIf" for _, _, app, _ in STEPS)


def test_includes_and_contexts_named_elsewhere_exist() -> None:
    for context in CONTEXTS.values():
        for included in context.includes:
            assert included in CONTEXTS
    named = set(SERVICE_CONTEXTS)
    for conf in ("queues.conf", "pjsip.conf"):
        text = (REPO / "config" / conf).read_text(encoding="utf-8")
        named |= set(re.findall(r"^context\s*=\s*([\w-]+)", text, re.MULTILINE))
    missing = named - set(CONTEXTS)
    assert not missing
    assert {"hotline-queue-exit", "operators", "hotline-inbound"} <= named


def test_the_menu_offers_the_four_choices_and_the_queue_exit_key() -> None:
    assert {"1", "2", "3", "4", "t", "i"} <= set(CONTEXTS["hotline-ivr"].extensions)
    assert "2" in CONTEXTS["hotline-queue-exit"].extensions


def test_the_checker_catches_a_broken_jump(tmp_path: Path) -> None:
    broken = tmp_path / "extensions.conf"
    broken.write_text("[a]\nexten => s,1,Goto(b,s,1)\n", encoding="utf-8")
    contexts, _ = parse(broken)
    with pytest.raises(AssertionError, match=r"no context \[b\]"):
        resolve(contexts, "b", "s", "1", "line 2")


@pytest.mark.parametrize("conf", ["manager.conf", "queues.conf", "pjsip.conf"])
def test_sample_configs_parse_and_hold_no_secrets(conf: str) -> None:
    text = (REPO / "config" / conf).read_text(encoding="utf-8")
    # Asterisk's own directives (#include, #tryinclude) are not INI.
    text = re.sub(r"^#(?:try)?include .*$", "", text, flags=re.MULTILINE)
    parser = configparser.ConfigParser(strict=False, comment_prefixes=(";",), inline_comment_prefixes=(";",),
                                       delimiters=("=", "=>"), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    # pjsip.conf repeats a section name for different object types, as Asterisk allows.
    parser.read_string(re.sub(r"^\[([\w-]+)\]\((.*?)\)", r"[\1]", text, flags=re.MULTILINE))
    for section in parser.sections():
        for key in ("secret", "password"):
            if parser.has_option(section, key):
                assert parser.get(section, key) == "CHANGE_ME"


def test_dial_gosub_options_and_hangup_handlers_use_asterisks_syntax() -> None:
    """Dial's U() takes a context (and starts at s,1), `^` separating its arguments; a hangup handler is pushed as
    context,exten,priority. `U(cc-lib^answered^1)` loaded without a warning and failed on every answer."""
    checked = 0
    for number, _context, app, args in STEPS:
        if app == "Dial":
            for option in re.findall(r"U\(([^)]*)\)", args):
                target = option.split("^")[0]
                assert target in CONTEXTS, f"line {number}: U({option}) names no context"
                assert "s" in CONTEXTS[target].extensions, f"line {number}: U() starts at s,1 in [{target}]"
                checked += 1
            # b(): the callee's pre-dial handler, context^exten^priority (the softphone's SIP headers).
            for option in re.findall(r"\bb\(([^)]*)\)", args):
                resolve(CONTEXTS, *option.split("^"), f"line {number}")
                checked += 1
        if app == "Set" and "hangup_handler_push" in args:
            handler = args.split("=", 1)[1]
            resolve(CONTEXTS, *[part.strip() for part in handler.split(",")], f"line {number}")
            checked += 1
    assert checked >= 4


def test_no_execif_fetches_in_both_branches() -> None:
    """Asterisk expands both of ExecIf's branches before choosing: a CURL in one runs whatever the condition."""
    for number, _context, app, args in STEPS:
        if app == "ExecIf" and ":" in args:
            assert "CURL(" not in args, f"line {number}: a CURL in an ExecIf branch runs either way"


def test_originated_channels_set_the_prompt_language() -> None:
    """Local channels start in Asterisk's default language (en): the Russian prompts are not found there."""
    for name in ("callback-dial", "callback-resident-first", "callback-placeholder", "video-placeholder",
                 "video-operator"):
        steps = [args for _n, context, app, args in STEPS if context == name and app == "Set"]
        assert any("CHANNEL(language)" in args for args in steps), name


def test_the_callers_place_is_taken_when_they_enter_the_queue() -> None:
    """CC_JOINED orders a callback asked for from the queue: it must be set right before Queue(), not before the
    seconds of the wait announcement (which would put the caller ahead of those who joined meanwhile)."""
    steps = [(app, args) for _n, context, app, args in STEPS if context == "hotline-queue"]
    queue_at = next(index for index, (app, _args) in enumerate(steps) if app == "Queue")
    assert "CC_JOINED" in steps[queue_at - 1][1]
    assert not any("CC_JOINED" in args for _app, args in steps[:queue_at - 1])


def test_the_softphones_quick_connects_are_reachable_from_the_operators_context() -> None:
    """A blind transfer (REFER) from an operator's softphone runs in their endpoint's context, [operators]."""
    from callcenter.config import load_settings
    from callcenter.softphone.identity import quick_connects

    targets = quick_connects(load_settings(REPO / "config" / "callcenter.toml", environ={}).softphone)
    assert targets
    for target in targets:
        resolve(CONTEXTS, "operators", target.number, "1", f"quick connect {target.name}")
    with pytest.raises(AssertionError, match="no extension"):
        resolve(CONTEXTS, "operators", "999", "1", "a number no one answers")
