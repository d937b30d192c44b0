"""Durations, sizes and slice-safe usernames, as written in policies DS01 labs already have."""

import pytest

from ds01.names import sanitize_username
from ds01.units import format_bytes, format_duration, parse_bytes, parse_duration


@pytest.mark.parametrize("text,seconds", [
    ("1h", 3600), ("0.5h", 1800), ("0.25h", 900), ("0.5d", 43200), ("7d", 604800), ("2w", 1209600),
    ("90m", 5400), ("3600s", 3600), ("2H", 7200), ("  2h  ", 7200), ("1 h", 3600),
])
def test_durations_with_units(text, seconds):
    assert parse_duration(text) == seconds


def test_plain_numbers_are_in_the_keys_unit():
    assert parse_duration(24, "h") == 86400
    assert parse_duration(30, "m") == 1800
    assert parse_duration("60") == 60


@pytest.mark.parametrize("text", [None, "null", "None", "never", "indefinite", "unlimited"])
def test_unlimited_durations(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize("text", ["invalid", "abc", "--", "-1h", "1y", True])
def test_bad_durations_are_errors_not_zero(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration():
    assert [format_duration(s) for s in (3600, 90000, 86400, 1800, 60, 30, 0, None)] == [
        "1h", "1d 1h", "1d", "30m", "1m", "30s", "0s", "unlimited"]


def test_sizes():
    assert parse_bytes("32g") == 32 * 1024**3
    assert parse_bytes("512m") == 512 * 1024**2
    assert parse_bytes("1.5G") == int(1.5 * 1024**3)
    assert parse_bytes(1024) == 1024
    assert parse_bytes("64MB") == 64 * 1024**2
    assert format_bytes(32 * 1024**3) == "32g"
    for bad in ("lots", "-1g", "", True):
        with pytest.raises(ValueError):
            parse_bytes(bad)


@pytest.mark.parametrize("login,slice_name", [
    ("student1", "student1"), ("user@hertie-school.lan", "user"), ("h.baker", "h_baker"),
    ("h.baker@hertie-school.lan", "h_baker"), ("user..name", "user_name"), (".user.", "user"),
    ("228755@hertie-school.lan", "228755"), ("a.b-c@d", "a_b_c"), ("", ""),
    ("averyveryverylongfirstname.lastnamepart@x.lan", "averyveryverylongfirstname_106e"),
])
def test_sanitize_username_matches_ds01_slice_names(login, slice_name):
    assert sanitize_username(login) == slice_name
