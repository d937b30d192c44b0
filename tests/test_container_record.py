"""The container record is typed (ds01.containers.ContainerRecord) and its keys are exactly the documented ones:
docs/records.md's table, what `record()` builds from Docker's answer, and what mypy checks `rec["…"]` against."""

import re
from pathlib import Path
from typing import get_type_hints

from ds01 import labels as L
from ds01.containers import ContainerRecord, record

RECORDS_MD = Path(__file__).resolve().parents[1] / "docs" / "records.md"


def _documented_keys(section):
    """The first column of the table under `## section` in docs/records.md."""
    text = RECORDS_MD.read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\| `([a-z_]+)` \|", text, re.MULTILINE)]


def _inspect(**labels):
    """A `docker inspect` answer as the engine gives it (the keys record() reads, and some it does not)."""
    return {
        "Id": "0123456789ab" + "c" * 52, "Name": "/thesis._.1000", "Created": "2026-01-02T03:04:05.123456789Z",
        "State": {"Status": "running", "Running": True, "StartedAt": "2026-01-02T03:04:06Z"},
        "Config": {"Image": "ds01-1000/thesis:thesis._.1000", "Labels": labels, "User": "1000:1000"},
        "HostConfig": {"NetworkMode": "host"},
        "Mounts": [{"Type": "bind", "Source": "/home/alice/workspace/thesis", "Destination": "/workspace"}],
    }


def test_the_typed_record_has_exactly_the_documented_keys_in_their_order():
    documented = _documented_keys("Container record")
    assert documented, "docs/records.md lost its container record table"
    assert list(get_type_hints(ContainerRecord)) == documented


def test_a_record_from_dockers_inspect_answer_has_exactly_the_documented_keys():
    rec = record(_inspect(**{L.USER: "alice", L.NAME: "thesis", L.MANAGED: "true", L.INTERFACE: "atomic"}))
    assert list(rec) == _documented_keys("Container record")
    assert (rec["name"], rec["container"], rec["id"], rec["user"], rec["uid"], rec["status"]) == (
        "thesis", "thesis._.1000", "0123456789ab", "alice", 1000, "running")
    assert rec["workspace"] == "/home/alice/workspace/thesis" and rec["managed"] is True


def test_a_record_from_a_ps_entry_of_a_foreign_container_has_the_same_keys():
    entry = {"Id": "f" * 64, "Names": ["/legacy"], "Labels": {}, "State": "exited", "Status": "Exited (0) 1 hour ago",
             "Image": "ubuntu:24.04", "Mounts": [], "Created": 1767323045}
    rec = record(entry)
    assert list(rec) == _documented_keys("Container record")
    assert rec["user"] is None and rec["uid"] is None and rec["gpus"] == [] and rec["managed"] is False
