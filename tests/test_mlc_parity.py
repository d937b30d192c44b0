"""AIME's syntax as AIME's mlc.py (v2.2.0, argparse) reads it, on ds01's mlc-* front-ends; DS01's mlc-create flags.

The byte-for-byte layouts are checked against AIME's own formatting code (the oracles below)."""

import os

import pytest

from ds01 import aime_format as F
from tests.support import sandbox
from tests.support.gpulab import SMALL_CONTAINERS, lab_shell, whole_gpus

UUIDS = [f"GPU-c{i}{i}{i}{i}{i}{i}{i}-0000-4000-8000-00000000000{i}" for i in range(3)]


# ------------------------------------------------------------------ oracles: AIME MLC v2.2.0's mlc.py
# Copied from aime-team/aime-mlc v2.2.0 mlc.py (MIT License, (c) AIME GmbH): show_container_info's and
# show_container_stats' formatting, unchanged but for colour codes (ds01 prints none), `home` (AIME reads
# the caller's ~) and returning the text instead of printing it.

def aime_short_home_path(provided_path, home):
    home_directory = home
    if provided_path == "-":
        return "-"
    elif provided_path == home_directory:
        return provided_path
    else:
        shortened_path = provided_path.replace(home_directory, "~", 1)
        return shortened_path


def aime_list(containers_info, home, **kwargs):
    """mlc.py show_container_info(**vars(args)) for `docker container ls --format '{{json .}}'` lines."""
    out = []
    kwarg_keys_to_be_deleted = ["command", "all", "all_users"]
    kwarg_titles = {key: key.upper() for key in kwargs if key not in kwarg_keys_to_be_deleted}
    kwarg_titles["all_users"] = "USER"
    default_titles_to_display = ["CONTAINER", "FRAMEWORK", "STATUS"]
    titles_when_all_is_set = ["USER", "SIZE", "ARCHITECTURE", "WORKSPACE", "DATA", "MODELS"]
    if kwargs.get("all"):
        default_titles_to_display.extend(titles_when_all_is_set)
    else:
        default_titles_to_display.extend(kwarg_titles[key] for key in kwargs if key in kwarg_titles
                                         and kwargs[key] is True)
    titles_to_display = default_titles_to_display
    columns_transcription = {
        "CONTAINER": "aime.mlc.NAME", "FRAMEWORK": "aime.mlc.FRAMEWORK", "STATUS": "Status",
        "USER": "aime.mlc.USER", "SIZE": "Size", "ARCHITECTURE": "aime.mlc.ARCH",
        "WORKSPACE": "aime.mlc.WORK_MOUNT", "DATA": "aime.mlc.DATA_MOUNT", "MODELS": "aime.mlc.MODELS_MOUNT"}
    reduce_the_path = ["WORKSPACE", "DATA", "MODELS"]
    values_to_be_reduced = [columns_transcription[key] for key in reduce_the_path if key in columns_transcription]
    flattened_container_infos = [
        {
            **{key: aime_short_home_path(value, home) if key in values_to_be_reduced
               else f"[{value}]" if key == columns_transcription["CONTAINER"]
               else value
               for key, value in (pair.split('=', 1) for pair in container_dict["Labels"].split(','))},
            **{key: value for key, value in container_dict.items() if key != "Labels"}
        }
        for container_dict in containers_info
    ]
    column_widths = {
        key: max(len(key), *(len(container.get(columns_transcription[key], ""))
                             for container in flattened_container_infos))
        for key in titles_to_display
    }
    format_string = "".join(f"{{:<{column_widths[col] + 2}}}" for col in titles_to_display)
    out.append("")
    out.append(format_string.format(*(titles_to_display)))
    for container in flattened_container_infos:
        out.append(format_string.format(*(container.get(columns_transcription[key], '')
                                          for key in titles_to_display if key in columns_transcription)))
    out.append("")
    return "".join(line + "\n" for line in out)


def aime_stats(output_lines):
    """mlc.py show_container_stats for rows already made by format_container_stats."""
    out = []
    format_string = "{:<30}{:<10}{:<25}{:<10}{:<15}"
    out.append("\nCurrent stats of the running containers:")
    titles = ["CONTAINER", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PROCESSES (PIDs)"]
    out.append(format_string.format(*titles))
    out.append("\n".join(format_string.format(*info) for info in output_lines) + "\n")
    return "".join(line + "\n" for line in out)


def aime_json(entry):
    """A `docker container ls -a --format '{{json .}}'` line's fields AIME reads, from the API's entry."""
    return {"Labels": ",".join(f"{k}={v}" for k, v in (entry.get("Labels") or {}).items()),
            "Status": entry["Status"], "Names": entry["Names"][0].lstrip("/")}


LIST_FLAGS = ("all", "all_users", "architecture", "data", "models", "size", "workspace")  # mlc.py's order


def aime_flags(**given):
    return {"command": "list", **{k: bool(given.get(k)) for k in LIST_FLAGS}}


# ------------------------------------------------------------------ fixtures

@pytest.fixture
def lab(user_tmp, users, dockerd, sh, policy_file):
    """Three whole GPUs (simulated), the test catalog; alice and bob may hold two slots each, two per container."""
    return lab_shell(user_tmp, dockerd, whole_gpus(UUIDS, "L40S", "48g"), users["admin"], SMALL_CONTAINERS + f"""\
  max_containers_per_user: 4
  max_gpu_equivalents: 2
  max_gpu_slots_per_container: 2
aime:
  catalog: {policy_file.parent / "ml_images.repo"}
""")


def create(sh, user, name, *extra):
    return sh.run(user, "mlc-create", name, "Pytorch", "2.5.1", "-arch", "CUDA_ADA", "-s", *extra)


def gpu_ids(client, container):
    requests = client.api.inspect_container(container)["HostConfig"]["DeviceRequests"] or []
    return [d for r in requests for d in r["DeviceIDs"] or []]


# ------------------------------------------------------------------ argparse's reading and AIME's exit codes

def test_mlc_list_reads_argparse_abbreviations_and_refuses_ambiguous_ones(sh, users):
    alice = users["alice"]
    assert create(sh, alice, "ab").returncode == 0
    arch = sh.run(alice, "mlc-list", "--arch")  # argparse: --architecture
    assert arch.returncode == 0, arch.stderr
    assert arch.stdout.split("\n")[1].split() == ["CONTAINER", "FRAMEWORK", "STATUS", "ARCHITECTURE"]
    both = sh.run(alice, "mlc-list", "--works", "--da")
    assert both.returncode == 0 and both.stdout.split("\n")[1].split()[3:] == ["DATA", "WORKSPACE"]
    for ambiguous in ("--al", "--a", "-arc"):  # argparse: "ambiguous option", AIME's exit 1
        refused = sh.run(alice, "mlc-list", ambiguous)
        assert refused.returncode == 1 and "ambiguous option" in refused.stderr and refused.stdout == ""
    made = sh.run(alice, "mlc-create", "ab2", "Pytorch", "2.5.1", "--arch", "CUDA_ADA", "--scr", "--num_g", "0",
                  "--workspace_d=" + alice.pw_dir)
    assert made.returncode == 0, made.stderr


def test_a_student_abbreviating_the_admin_option_still_gets_only_their_own_containers(sh, users):
    alice, bob = users["alice"], users["bob"]
    assert create(sh, bob, "bobs").returncode == 0
    for argv in (["--all_u"], ["--all_us"], ["-s", "--all_u"], ["--all_users"], ["-au"], ["-wau"]):
        seen = sh.run(alice, "mlc-list", *argv)
        assert seen.returncode in (1, 5), (argv, seen.returncode, seen.stdout)
        assert "bobs" not in seen.stdout
    admin = sh.run(users["admin"], "mlc-list", "--all_u")
    assert admin.returncode == 0 and "[bobs]" in admin.stdout


def test_mlc_front_ends_exit_as_aime_does(sh, users, client):
    alice = users["alice"]
    nothing = sh.run(alice, "mlc-stop", "ghost", "-s")  # no containers at all: AIME says so, exit 0
    assert nothing.returncode == 0 and "Create at least one container" in nothing.stdout
    assert create(sh, alice, "e1").returncode == 0
    assert create(sh, alice, "e2").returncode == 0
    idle = sh.run(alice, "mlc-stop", "e1", "-s")  # nothing running: exit 0, as AIME
    assert idle.returncode == 0 and "All containers are stopped" in idle.stdout
    assert sh.run(alice, "mlc-create", "e3", "-s").returncode == 1  # usage: AIME's 1, not 2
    assert sh.run(alice, "mlc-create", "e3", "Pytorch", "9.9", "-s").returncode == 1  # unknown: 1, not 4
    assert sh.run(alice, "mlc-start", "ghost", "-s").returncode == 1  # not found: 1, not 4
    assert sh.run(alice, "mlc-list", "--bogus").returncode == 1
    assert sh.run(alice, "mlc", "bogus").returncode == 1
    sh.run(alice, "mlc-start", "e2", "-s", check=True)
    stopped_one = sh.run(alice, "mlc-stop", "e1", "-s")  # e2 runs, e1 does not: AIME's exit 1
    assert stopped_one.returncode == 1
    assert client.api.inspect_container(f"e2._.{alice.pw_uid}")["State"]["Running"]


def test_mlc_v_prints_aimes_version_line(sh, users):
    for flag in ("-v", "--version", "--vers"):
        shown = sh.run(users["alice"], "mlc", flag)
        assert shown.returncode == 0 and shown.stdout.startswith("AIME MLC version: 2.2.0"), shown


# ------------------------------------------------------------------ mlc-start: a failed exec stops it again

def test_mlc_start_stops_the_container_again_when_its_command_cannot_run(sh, users, client):
    alice = users["alice"]
    assert create(sh, alice, "st").returncode == 0
    tag = f"st._.{alice.pw_uid}"
    failed = sh.run(alice, "mlc-start", "st", "no-such-program --flag", "-s")
    assert failed.returncode != 0
    assert "[st] error starting container, stopping container..." in failed.stdout
    assert client.api.inspect_container(tag)["State"]["Running"] is False
    quoted = sh.run(alice, "mlc-start", "st", "sh -c 'echo hi; exit 1'", "-s")  # one quoted word: its words
    assert quoted.returncode == 1 and "hi\n" in quoted.stdout and "[st] container started." in quoted.stdout
    assert client.api.inspect_container(tag)["State"]["Running"]  # 0 and 1 count as started, as in AIME


# ------------------------------------------------------------------ byte-for-byte layouts

def test_mlc_list_is_byte_for_byte_aimes_table_with_its_trailing_padding(sh, users, client, data_root):
    alice = users["alice"]
    assert create(sh, alice, "a-long-container-name", "-d", str(data_root / "corpus")).returncode == 0
    assert create(sh, alice, "b").returncode == 0
    entries = client.api.containers(all=True, filters={"label": f"aime.mlc={alice.pw_name}"})
    lines = [aime_json(e) for e in entries]
    for argv, flags in (([], {}), (["-arch", "-d", "-m", "-w"], {"architecture": 1, "data": 1, "models": 1,
                                                                 "workspace": 1})):
        listed = sh.run(alice, "mlc-list", *argv)
        assert listed.returncode == 0
        assert listed.stdout == aime_list(lines, alice.pw_dir, **aime_flags(**flags))
    row = listed.stdout.split("\n")[2]
    assert row.endswith("  ") and len(row) == len(listed.stdout.split("\n")[1])  # `cut -c` finds each column


def test_mlc_list_and_stats_with_nothing_to_show_print_aimes_messages(sh, users):
    assert sh.run(users["alice"], "mlc-list").stdout == (
        "\nThere are no containers. Create the first one using:\nmlc create container_name\n\n")
    assert sh.run(users["alice"], "mlc-stats").stdout == (
        "\nThere are no running containers. Start or open a container to show the stats.\n\n")


def test_mlc_stats_is_byte_for_byte_aimes_layout(sh, users):
    rows = [["[a]", "0.00%", "1.5MiB / 256MiB", "0.59%", "1"],
            ["[a-name-longer-than-thirty-columns-x]", "100.25%", "255.9MiB / 256MiB", "99.96%", "1234"]]
    assert F.stats_table(rows) == aime_stats(rows)
    alice = users["alice"]
    assert create(sh, alice, "sx").returncode == 0
    sh.run(alice, "mlc-start", "sx", "-s", check=True)
    shown = sh.run(alice, "mlc-stats").stdout
    row = shown.split("\n")[3]
    cells = [row[0:30], row[30:40], row[40:65], row[65:75], row[75:]]
    assert shown == aime_stats([[c.strip() for c in cells]])  # the leading blank line and padding included


# ------------------------------------------------------------------ -g device=N and -g all under the quota

def test_mlc_create_g_device_takes_that_slot_if_free_and_within_the_quota(lab, users, client):
    alice, bob = users["alice"], users["bob"]
    made = create(lab, alice, "d1", "-g", "device=1")
    assert made.returncode == 0, made.stderr
    assert gpu_ids(client, f"d1._.{alice.pw_uid}") == [UUIDS[1]]
    taken = create(lab, bob, "d2", "-g", "device=1")
    assert taken.returncode == 3 and "GPU slot 1 is held" in taken.stderr
    missing = create(lab, bob, "d3", "-g", "device=7")
    assert missing.returncode == 1 and "no GPU slot 7" in missing.stderr
    over = create(lab, bob, "d4", "-g", "device=0,2,1")  # three slots: over the per-container cap of 2
    assert over.returncode == 3
    assert [c.name for c in client.containers.list(all=True)] == [f"d1._.{alice.pw_uid}"]  # refusals made nothing
    both = create(lab, bob, "d5", "-g=device=0,2")  # DS01's -g= spelling
    assert both.returncode == 0, both.stderr
    assert sorted(gpu_ids(client, f"d5._.{bob.pw_uid}")) == sorted([UUIDS[0], UUIDS[2]])


def test_mlc_create_g_all_takes_every_gpu_the_quota_allows_and_says_so(lab, users, client):
    alice, bob = users["alice"], users["bob"]
    made = create(lab, alice, "all1", "-g", "all")
    assert made.returncode == 0, made.stderr
    assert len(gpu_ids(client, f"all1._.{alice.pw_uid}")) == 2  # the cap, of 3 on the host
    assert "-g all: [all1] has 2 GPU slot(s)" in made.stderr and "AIME: every GPU on the host" in made.stderr
    rest = create(lab, bob, "all2", "-g", "all")  # one slot is left
    assert rest.returncode == 0 and len(gpu_ids(client, f"all2._.{bob.pw_uid}")) == 1
    none_left = create(lab, alice, "all3", "-g", "all")
    assert none_left.returncode == 3 and len(client.containers.list(all=True)) == 2


# ------------------------------------------------------------------ DS01's mlc-create wrapper flags

def test_a_ds01_script_calling_mlc_create_with_the_wrappers_flags_works(sh, users, client):
    alice = users["alice"]
    work = os.path.join(alice.pw_dir, "workspace", "thesis")
    os.makedirs(work)
    for path in (os.path.dirname(work), work):
        os.chown(path, alice.pw_uid, alice.pw_gid)
    made = sh.run(alice, "mlc-create", "box", "pytorch", f"-w={work}", "--cpu-only")  # no VERSION, no -s, no tty
    assert made.returncode == 0, made.stderr
    labels = client.api.inspect_container(f"box._.{alice.pw_uid}")["Config"]["Labels"]
    assert labels["aime.mlc.WORK_MOUNT"] == work and labels["aime.mlc.FRAMEWORK"] == "Pytorch-2.7.1"
    assert gpu_ids(client, f"box._.{alice.pw_uid}") == []
    planned = sh.run(alice, "mlc-create", "dry", "Pytorch", "2.7.1", "--dry-run", "--cpu-only", "-s")
    assert planned.returncode == 0 and '"dry"' in planned.stdout
    assert len(client.containers.list(all=True)) == 1  # the dry run made nothing
    limits = sh.run(alice, "mlc-create", "--show-limits")
    assert limits.returncode == 0 and "max_containers_per_user: 3" in limits.stdout
    custom = sh.run(alice, "mlc-create", "own", f"--image={sandbox.BASE_IMAGE}", "--cpu-only", "-s")
    assert custom.returncode == 0, custom.stderr
    clash = sh.run(alice, "mlc-create", "x", "Pytorch", "2.7.1", "--cpu-only", "-g", "2", "-s")
    assert clash.returncode == 1 and "ask for different GPUs" in clash.stderr
