"""Records out and targets in: what makes `container-list | container-stop` compose."""

import os

import pytest

from ds01.output import parse_targets, render_fitted, render_table


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


def note_commands(text):
    """The ds01 command lines a note shows students (lines that start with a command's name)."""
    import shlex

    from ds01.registry import by_name

    names = by_name()
    return [(names[line.split()[0]][0], shlex.split(line)) for line in text.splitlines()
            if line.split() and line.split()[0] in names]


SUDO_NOTE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ds01", "images",
                         "container-sudo")


def test_the_sudo_note_names_options_that_exist():
    """Issue 30: inside a container, `sudo` told students `image-update IMAGE --apt PACKAGE`; the real
    parser must accept every command the note shows."""
    import importlib

    with open(SUDO_NOTE, encoding="utf-8") as handle:
        shown = note_commands(handle.read())
    assert shown, "the note shows no command"
    for command, words in shown:
        cli = importlib.import_module(command.module).cli
        cli.make_context(words[0], words[1:])  # click.NoSuchOption / UsageError if an option does not exist


def test_a_fitted_table_cuts_the_widest_cells_to_the_width():
    rows = [{"name": "thesis-experiment-with-a-long-name", "image": "nvcr.io/nvidia/pytorch:24.05-py3-and-more",
             "gpus": ["GPU-" + "a" * 36, "GPU-" + "b" * 36]}, {"name": "a", "image": None, "gpus": []}]
    columns = [("name", "NAME"), ("image", "IMAGE"), ("gpus", "GPUS")]
    lines = render_fitted(rows, columns, 40).splitlines()
    assert all(len(line) <= 40 for line in lines), lines
    assert lines[0].startswith("NAME") and "…" in lines[1] and lines[2].split()[:2] == ["a", "-"]
    assert render_fitted(rows, columns, None) == render_table(rows, columns)  # no width: whole
