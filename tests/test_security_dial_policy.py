"""Which numbers the PBX may be made to dial (issue 16, point 3): Russian mobile and fixed lines only, never abroad
(Kazakhstan shares +7), never the hotline's own numbers, never premium-rate, shared-cost, toll-free or service
ranges unless the settings say so."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.config import ConfigError, Settings, load_settings
from tests.conftest import REPO


def refusal(raw: str, settings: Settings | None = None) -> tuple[str, str, str]:
    from callcenter.callbacks.phone import DialPolicy, PhoneError

    policy = DialPolicy.from_settings(settings or Settings())
    with pytest.raises(PhoneError) as caught:
        policy.normalise(raw)
    return caught.value.code, caught.value.reason, caught.value.number_type


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8 (495) 123-45-67", "+74951234567"),  # Moscow, fixed line
        ("+7 916 555-12-34", "+79165551234"),  # mobile
        ("73012345678", "+73012345678"),  # Ulan-Ude, fixed line
    ],
)
def test_russian_mobile_and_fixed_numbers_are_dialled(raw: str, expected: str) -> None:
    from callcenter.callbacks.phone import DialPolicy

    assert DialPolicy.from_settings(Settings()).normalise(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["+7 701 123 45 67", "8 701 123-45-67", "77011234567", "+7 727 258 00 00", "+7 (7172) 12-34-56",
     "+7 751 123 45 67"],
)
def test_kazakhstan_shares_plus_7_but_is_abroad(raw: str) -> None:
    assert refusal(raw) == ("phone_not_allowed", "foreign", "")


@pytest.mark.parametrize(
    ("raw", "kind"),
    [("8 800 200-06-00", "toll_free"), ("8 809 505-12-34", "premium_rate"), ("8 803 555-12-34", "premium_rate"),
     ("8 808 123-45-67", "personal_number")],
)
def test_premium_toll_free_and_service_ranges_are_refused(raw: str, kind: str) -> None:
    assert refusal(raw) == ("phone_not_allowed", "number_type", kind)


def test_the_hotlines_own_numbers_are_refused() -> None:
    settings = Settings().replace("hotline", number="+74957770000")
    assert refusal("8 (495) 777-00-00", settings) == ("phone_not_allowed", "own_number", "")
    settings = settings.replace("callbacks", own_numbers=["8 495 777-00-01", "+7 800 200-06-00"])
    assert refusal("+74957770001", settings) == ("phone_not_allowed", "own_number", "")
    # A toll-free own number says it is the hotline's, not merely toll-free.
    assert refusal("88002000600", settings) == ("phone_not_allowed", "own_number", "")


def test_the_lists_are_settings() -> None:
    from callcenter.callbacks.phone import DialPolicy

    mobile_only = Settings().replace("callbacks", allowed_types=["MOBILE"])
    assert refusal("84951234567", mobile_only) == ("phone_not_allowed", "number_type", "fixed_line")
    assert DialPolicy.from_settings(mobile_only).normalise("89165551234") == "+79165551234"
    with_kazakhstan = Settings().replace("callbacks", allowed_regions=["RU", "KZ"])
    assert DialPolicy.from_settings(with_kazakhstan).normalise("+77011234567") == "+77011234567"
    toll_free = Settings().replace("callbacks", allowed_types=["MOBILE", "FIXED_LINE", "TOLL_FREE"])
    assert DialPolicy.from_settings(toll_free).normalise("88002000600") == "+78002000600"
    # The old prefix rule still narrows what the regions allow.
    moscow = Settings().replace("callbacks", allowed_prefixes=["+7495", "+7499"])
    assert refusal("89165551234", moscow) == ("phone_not_allowed", "prefix", "")


def test_an_invalid_number_is_still_invalid() -> None:
    assert refusal("+7 495 12")[0] == "phone_invalid"
    assert refusal("+7 600 123 45 67")[0] == "phone_invalid"


def test_check_config_validates_the_lists(tmp_path: Path) -> None:
    path = tmp_path / "callcenter.toml"
    path.write_text('[callbacks]\nallowed_regions = ["RU", "ru", "XX"]\n'
                    'allowed_types = ["MOBILE", "MOBLE", "premium_rate"]\n'
                    'own_numbers = ["+74957770000", "not a number"]\ndefault_region = "Russia"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    problems = [str(p) for p in caught.value.problems]
    assert sum(p.startswith("callbacks.allowed_regions") for p in problems) == 2, problems
    assert any("'MOBLE'" in p and "MOBILE" in p for p in problems), problems
    assert any(p.startswith("callbacks.allowed_types") and "'premium_rate'" in p for p in problems), problems
    assert any(p.startswith("callbacks.own_numbers") and "'not a number'" in p for p in problems), problems
    assert any(p.startswith("callbacks.default_region") for p in problems), problems
    assert len(problems) == 6, problems


def test_the_lists_from_the_environment() -> None:
    settings = load_settings(REPO / "config" / "callcenter.toml",
                             environ={"CALLCENTER_CALLBACKS_ALLOWED_TYPES": "MOBILE",
                                      "CALLCENTER_CALLBACKS_OWN_NUMBERS": "+74957770001,+74957770002"})
    assert settings.callbacks.allowed_types == ["MOBILE"]
    assert settings.callbacks.own_numbers == ["+74957770001", "+74957770002"]
    assert refusal("+74957770002", settings)[1] == "own_number"


def test_the_repository_file_documents_the_defaults() -> None:
    settings = load_settings(REPO / "config" / "callcenter.toml", environ={})
    defaults = Settings().callbacks
    for key in ("allowed_regions", "allowed_types", "own_numbers", "allowed_prefixes", "default_region"):
        assert getattr(settings.callbacks, key) == getattr(defaults, key), key
    assert defaults.allowed_regions == ["RU"]
    assert defaults.allowed_types == ["MOBILE", "FIXED_LINE", "FIXED_LINE_OR_MOBILE"]
