"""Allocation decisions on a snapshot: quotas, weights, reservations, strategy and queue order."""

import datetime
from pathlib import Path

import pytest

from ds01.errors import NoCapacity, UsageError
from ds01.gpu import holdings as H
from ds01.gpu import simulated
from ds01.gpu.choice import Request, Snapshot, choose, reservations, user_record
from ds01.gpu.queue import simulate
from ds01.policy import parse

EXAMPLE = Path(__file__).resolve().parents[1] / "etc" / "ds01" / "gpus.sim.yaml"
NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc)
POLICY = """\
defaults: {max_gpu_equivalents: 2.0, max_gpu_slots_per_container: 2}
default_group: student
groups:
  student: {members: [alice, carol]}
  miguser: {allow_full_gpu: false, members: [mona]}
  researcher: {max_gpu_equivalents: 4, max_gpu_slots_per_container: 3, priority: 20, members: [bob]}
  admin: {max_gpu_equivalents: null, max_gpu_slots_per_container: null, priority: 100, members: [root]}
"""


def inventory():
    return simulated.load(str(EXAMPLE))


def holding(user, slots, status="running", holds=True, name=None):
    name = name or f"{user}-{'-'.join(slots)}"
    return H.Holding(id=f"id-{name}", container=name, name=name, user=user, status=status, devices=[],
                     slots=list(slots), holds=holds, why="running")


def snap(holdings=(), claims=None, policy=None, now=NOW):
    policy = policy or parse(POLICY)
    inv = inventory()
    return Snapshot(inv, list(holdings), claims or {}, reservations(policy, inv.slots()), now)


def ids(slots):
    return [s.id for s in slots]


def test_spread_gives_the_smallest_slot_on_the_least_loaded_gpu_first():
    policy = parse(POLICY)
    assert ids(choose(snap(), "alice", policy.resolve("alice"), Request())) == ["2.0"]
    # GPU 2 now carries load: the next request goes to an idle GPU, smallest slot there first
    busy = snap([holding("carol", ["2.0"])])
    assert ids(choose(busy, "alice", policy.resolve("alice"), Request())) == ["3.0"]


def test_placement_is_the_policys_choice_smallest_fit_by_default_and_says_what_was_free():
    """A student got a 1g.5gb slice while two whole GPUs were free (issue 30): smallest fit stays the default
    (whole GPUs kept for those who ask), `gpu_allocation.placement: largest` gives whole GPUs first, and
    bigger_free names the whole GPU the caller could have had."""
    from ds01.gpu.choice import bigger_free, with_placement

    policy = parse(POLICY)
    limits = policy.resolve("alice")
    given = choose(snap(), "alice", limits, Request())
    assert ids(given) == ["2.0"] and bigger_free(snap(), "alice", limits, given).id == "0"
    largest = with_placement("spread", parse(POLICY + "gpu_allocation: {placement: largest}\n")
                             .section("gpu_allocation")["placement"])
    assert largest == "spread/largest"
    assert ids(choose(snap(), "alice", limits, Request(), largest)) == ["0"]
    assert ids(choose(snap([holding("carol", ["0"])]), "alice", limits, Request(), largest)) == ["1"]
    assert bigger_free(snap(), "mona", policy.resolve("mona"), given) is None  # MIG only: nothing bigger for her
    busy = snap([holding("carol", ["0"]), holding("bob", ["1"])])
    assert bigger_free(busy, "alice", limits, choose(busy, "alice", limits, Request())) is None
    with pytest.raises(Exception, match="placement"):
        parse(POLICY + "gpu_allocation: {placement: biggest}\n")


def test_pack_fills_a_used_gpu_before_touching_an_idle_one():
    policy = parse(POLICY + "gpu_allocation: {strategy: pack}\n")
    busy = snap([holding("carol", ["2.0"])], policy=policy)
    assert ids(choose(busy, "alice", policy.resolve("alice"), Request(), "pack")) == ["2.1"]


def test_profile_and_full_gpu_narrow_the_choice():
    policy = parse(POLICY)
    limits = policy.resolve("alice")
    assert ids(choose(snap(), "alice", limits, Request(profile="3g.20gb"))) == ["3.0"]
    assert ids(choose(snap(), "alice", limits, Request(full=True))) == ["0"]
    assert ids(choose(snap(), "alice", limits, Request(2, full=True))) == ["0", "1"]
    with pytest.raises(UsageError) as caught:
        choose(snap(), "alice", limits, Request(profile="7g.40gb"))
    assert "profiles present: 1g.5gb, 3g.20gb" in caught.value.message


def test_a_student_at_two_gpu_equivalents_cannot_take_a_third():
    policy = parse(POLICY)
    held = snap([holding("alice", ["0"]), holding("alice", ["1"])])
    with pytest.raises(NoCapacity) as caught:
        choose(held, "alice", policy.resolve("alice"), Request())
    assert caught.value.reason == "USER_AT_LIMIT" and "USER_AT_LIMIT (2/2 GPU-eq)" in caught.value.message
    # a slice still fits under the limit where a whole GPU would not
    partly = snap([holding("alice", ["0"]), holding("alice", ["3.0"])])
    assert ids(choose(partly, "alice", policy.resolve("alice"), Request())) == ["2.0"]
    with pytest.raises(NoCapacity, match="USER_AT_LIMIT"):
        choose(partly, "alice", policy.resolve("alice"), Request(full=True))


def test_mig_slices_weigh_their_share_of_the_gpu():
    held = snap([holding("alice", ["3.0"]), holding("alice", ["2.1", "2.2"])])
    used, slots = held.usage("alice")
    assert used == pytest.approx(3 / 7 + 2 / 7) and sorted(slots) == ["2.1", "2.2", "3.0"]


def test_claims_count_against_the_quota_like_containers():
    policy = parse(POLICY)
    claimed = snap([holding("alice", ["0"])], claims={"claim:x": {"user": "alice", "slots": ["1"]}})
    assert claimed.state("1") == "claimed"
    with pytest.raises(NoCapacity, match=r"USER_AT_LIMIT \(2/2 GPU-eq\)"):
        choose(claimed, "alice", policy.resolve("alice"), Request())


def test_the_per_container_cap_is_checked_first_and_named():
    policy = parse(POLICY)
    with pytest.raises(NoCapacity) as caught:
        choose(snap(), "alice", policy.resolve("alice"), Request(3))
    assert "EXCEEDS_CONTAINER_LIMIT (3>2)" in caught.value.message


def test_a_mig_only_user_never_gets_a_whole_gpu():
    policy = parse(POLICY)
    limits = policy.resolve("mona")
    everything_but_gpus = snap([holding("x", [f"2.{i}"]) for i in range(7)] + [holding("y", ["3.0", "3.1"])])
    assert ids(choose(snap(), "mona", limits, Request(2))) == ["2.0", "3.0"]
    with pytest.raises(NoCapacity) as caught:
        choose(everything_but_gpus, "mona", limits, Request())
    assert caught.value.reason == "MIG_ONLY"
    with pytest.raises(NoCapacity, match="MIG_ONLY"):
        choose(snap(), "mona", limits, Request(full=True))


def test_an_admin_with_null_limits_is_unlimited():
    policy = parse(POLICY)
    got = choose(snap([holding("root", ["0"])]), "root", policy.resolve("root"), Request(10))
    assert len(got) == 10 and "0" not in ids(got)


def test_a_reservation_holds_its_slots_for_its_user_only_inside_its_window():
    text = POLICY + """\
reservations:
  - {user: bob, slots: ["0"], uuids: [MIG-2334918d-44fc-53cf-bafa-87918d30bdca], start: 2026-11-23T11:00:00Z,
     end: 2026-11-23T13:00:00Z, reason: deadline}
"""
    policy = parse(text)
    inside = snap(policy=policy)
    assert inside.state("0", "alice") == "reserved" and inside.state("3.0", "alice") == "reserved"
    assert inside.state("0", "bob") == "free"
    assert "0" not in ids(choose(inside, "alice", policy.resolve("alice"), Request(full=True)))
    with pytest.raises(NoCapacity):
        choose(snap([holding("carol", ["1"])], policy=policy), "alice", policy.resolve("alice"), Request(full=True))
    assert ids(choose(inside, "bob", policy.resolve("bob"), Request(full=True))) == ["0"]
    later = snap(policy=policy, now=NOW + datetime.timedelta(hours=2))
    assert later.state("0", "alice") == "free"
    assert ids(choose(later, "alice", policy.resolve("alice"), Request(full=True))) == ["0"]


def test_a_reservation_needs_slots_and_a_window_that_ends_after_it_starts():
    with pytest.raises(Exception, match=r":2: reservations\[0\]: 'end' is not after 'start'"):
        parse("reservations:\n  - {user: bob, slots: ['0'], start: 2026-11-23T12:00:00Z, end: 2026-11-23T11:00:00Z}\n",
              "p.yaml")
    with pytest.raises(Exception, match=r"give 'slots' or 'uuids'"):
        parse("reservations:\n  - {user: bob, start: 2026-11-23, end: 2026-11-24}\n", "p.yaml")


def test_the_queue_serves_priority_then_arrival_and_lets_small_requests_past_big_ones():
    policy = parse(POLICY)
    full = [holding("x", [s]) for s in ["0", "1", "3.0", "3.1"] + [f"2.{i}" for i in range(1, 7)]]
    one_free = snap(full)  # only 2.0 is free
    waiting = [
        {"id": "a", "user": "alice", "priority": 10, "enqueued_at": 1, "num_gpus": 1},
        {"id": "b", "user": "bob", "priority": 20, "enqueued_at": 3, "num_gpus": 1},
        {"id": "c", "user": "carol", "priority": 10, "enqueued_at": 2, "num_gpus": 1},
    ]
    assert {k: ids(v) for k, v in simulate(one_free, policy, waiting, "spread").items()} == {"b": ["2.0"]}
    waiting[1]["num_gpus"] = 2  # bob's request does not fit: the next in line gets the slot
    assert {k: ids(v) for k, v in simulate(snap(full), policy, waiting, "spread").items()} == {"a": ["2.0"]}


def test_busy_host_slots_are_flagged_and_never_given_out(tmp_path):
    path = tmp_path / "gpus.yaml"
    path.write_text(EXAMPLE.read_text().replace(
        "    mig_mode: false\n", "    mig_mode: false\n    processes: [{pid: 999999999, used_memory: 1g}]\n", 1))
    inv = simulated.load(str(path))
    state = Snapshot(inv, [], {}, [], NOW)
    assert state.state("0") == "busy-host" and state.busy == {"0": [999999999]}
    policy = parse(POLICY)
    assert "0" not in ids(choose(state, "alice", policy.resolve("alice"), Request(full=True)))


def test_user_record_says_what_is_left():
    policy = parse(POLICY)
    record = user_record(snap([holding("alice", ["0"])]), "alice", policy.resolve("alice"))
    assert record["gpu_eq_used"] == 1.0 and record["gpu_eq_remaining"] == 1.0
    assert record["containers"] == ["alice-0"] and record["can_get_now"] == 2


@pytest.mark.parametrize("host_config, env, expected", [
    ({"DeviceRequests": [{"Driver": "nvidia", "DeviceIDs": ["GPU-a", "MIG-b"], "Capabilities": [["gpu"]]}]}, [],
     ["GPU-a", "MIG-b"]),
    ({"DeviceRequests": [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]}, [], ["all"]),
    ({"DeviceRequests": [{"Driver": "", "Count": 2, "Capabilities": [["gpu"]]}]}, [], ["count:2"]),
    ({"Runtime": "nvidia"}, ["NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b"], ["GPU-a", "GPU-b"]),
    ({"Runtime": "nvidia"}, ["NVIDIA_VISIBLE_DEVICES=void"], []),
    ({"Runtime": "runc"}, ["NVIDIA_VISIBLE_DEVICES=GPU-a"], []),
])
def test_devices_are_read_from_whatever_made_the_container(host_config, env, expected):
    info = {"HostConfig": host_config, "Config": {"Env": env, "Labels": {}}}
    assert H.devices_from_inspect(info) == expected


def test_device_ids_map_to_slots_by_uuid_index_or_count():
    slots = inventory().slots()
    gpu2 = next(s.gpu_uuid for s in slots if s.gpu == 2)
    assert H.slots_for(["all"], slots) == [s.id for s in slots]
    assert H.slots_for(["count:2"], slots) == ["0", "1"]
    assert H.slots_for(["1", "3:1"], slots) == ["1", "3.1"]
    assert H.slots_for([gpu2], slots) == [f"2.{i}" for i in range(7)]
    assert H.slots_for(["GPU-not-here"], slots) == []
