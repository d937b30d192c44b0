"""Records out and targets in: what makes `container-list | container-stop` compose."""

import pytest

from ds01.output import parse_targets, render_table


def test_targets_from_ndjson_prefer_the_full_container_name():
    text = '{"name": "a", "container": "a._.1000"}\n{"name": "b", "container": "b._.1000"}\n'
    assert parse_targets(text) == ["a._.1000", "b._.1000"]


def test_targets_from_a_json_array_of_records_or_names():
    assert parse_targets('[{"name": "a"}, "b"]') == ["a", "b"]


def test_targets_from_plain_lines_skip_blanks_and_comments():
    assert parse_targets("a\n\n# note\n b \n") == ["a", "b"]


def test_empty_input_is_no_targets():
    assert parse_targets("  \n") == []


def test_a_record_without_a_usable_key_is_an_error_naming_the_line():
    with pytest.raises(ValueError, match="line 2"):
        parse_targets('{"name": "a"}\n{"other": 1}\n')


def test_table_aligns_columns_and_shows_missing_values_as_dash():
    table = render_table([{"name": "a", "gpus": []}, {"name": "long-name", "gpus": ["GPU-1", "GPU-2"]}],
                         [("name", "NAME"), ("gpus", "GPUS")])
    assert table.splitlines() == ["NAME       GPUS", "a          -", "long-name  GPU-1;GPU-2"]
