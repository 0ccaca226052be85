"""The real-PBX harness's choices that need no Asterisk: which Opus translator it loads, and the operators' codec
order a test asks for (tests/asterisk/pbx.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.asterisk import pbx as harness
from tests.asterisk.pbx import LOADED_MODULES, RealPbx


@pytest.mark.parametrize(("installed", "loaded"), [
    ((), None),
    (("codec_opus_open_source.so",), "codec_opus_open_source"),
    (("codec_opus.so",), "codec_opus"),
    (("codec_opus.so", "codec_opus_open_source.so"), "codec_opus"),  # one translator only: Sangoma's first
])
def test_an_installed_opus_translator_is_loaded_and_none_is_not_required(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, installed: tuple[str, ...], loaded: str | None) -> None:
    for name in installed:
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(harness, "MODULES", tmp_path)
    assert harness.opus_translator() == loaded
    assert harness.loaded_modules() == (LOADED_MODULES if loaded is None else (*LOADED_MODULES, loaded))


def test_operator_codecs_reorder_only_the_operators_endpoints(tmp_path: Path) -> None:
    def allow_lines(pbx: RealPbx) -> list[str]:
        return re.findall(r"^allow = .*$", pbx.pjsip_conf(), re.MULTILINE)

    project = allow_lines(RealPbx(tmp_path, tmp_path, http_port=1))
    opus_first = allow_lines(RealPbx(tmp_path, tmp_path, http_port=1, operator_codecs="opus,ulaw,alaw"))
    assert opus_first[0] == "allow = opus,ulaw,alaw" and project[0] != opus_first[0]
    assert opus_first[1:] == project[1:]  # the trunk's and the loop-back's codecs stay as they are
