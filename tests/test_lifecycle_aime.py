"""Containers AIME's `mlc create` made are kept by the lifecycle jobs as AIME keeps them (issue 31, item 3): an
AIME user leaves a container stopped, or made and never opened, for weeks. ds01-release-stale still takes back
a stopped one's GPU after gpu_hold_after_stop_h; it removes AIME's containers (and their committed
per-container images) only where the policy says `policies.aime_containers: ds01`. Time is DS01_NOW, as in
tests/test_lifecycle.py; nothing sleeps."""

import pytest

from ds01.clock import parse_docker as parse_time
from tests.support.aime import aime_container
from tests.support.harness import REPO
from tests.support.lifelab import IMAGE, MINUTE, UUID, LifeLab

DAY = 24 * 60 * MINUTE
REPOSITORY = IMAGE.rsplit(":", 1)[0]


@pytest.fixture
def life(user_tmp, users, dockerd, client, sh):
    return LifeLab(user_tmp, users, dockerd, client)


def aime_made(life, client, entry, name, gpu=None, start=True):
    """An AIME container on its own committed image (`<repo>:<name>._.<uid>`, as `mlc create` makes it)."""
    own = f"{name}._.{entry.pw_uid}"
    client.api.tag(IMAGE, REPOSITORY, own)
    ref = aime_container(client, entry, name, gpus=f"device={UUID[gpu]}" if gpu else None, start=start,
                         image=f"{REPOSITORY}:{own}")
    if start:
        client.api.stop(ref, timeout=0)
    return ref, own


def exists(client, ref):
    return bool(client.containers.list(all=True, filters={"id": ref}))


def has_own_image(client, own):
    return f"{REPOSITORY}:{own}" in client.images.get(IMAGE).tags


def test_aime_containers_stay_stopped_or_never_opened_for_weeks_but_give_back_their_gpu(life, users, client):
    alice = users["alice"]
    stopped, stopped_image = aime_made(life, client, alice, "thesis", gpu="1")
    fresh, fresh_image = aime_made(life, client, alice, "later", start=False)
    ours = life.sh.records(alice, "container-create", "mine", IMAGE, "--cpu-only")[0]  # ds01's own, never started
    finished = parse_time(client.api.inspect_container(stopped)["State"]["FinishedAt"]).timestamp()
    created = parse_time(client.api.inspect_container(ours["container"])["Created"]).timestamp()

    first = life.decisions("ds01-release-stale", max(finished, created) + 61 * MINUTE)
    released = first["thesis"]
    assert released["decision"] == "release" and "the container is kept" in released["reason"]
    assert first["mine"]["decision"] == "remove"  # ds01's own, never started: past created_container_timeout_m
    assert first["later"]["decision"] == "keep" and "aime_containers" in first["later"]["reason"]
    assert [e["details"]["reason"] for e in life.events(user=alice.pw_name, event_type="gpu.release")] == [
        "hold_expired"]

    later = life.decisions("ds01-release-stale", max(finished, created) + 30 * DAY)
    for name in ("thesis", "later"):
        assert later[name]["decision"] == "keep", later[name]
        assert "aime_containers" in later[name]["reason"]
    assert exists(client, stopped) and exists(client, fresh) and not exists(client, ours["container"])
    assert has_own_image(client, stopped_image) and has_own_image(client, fresh_image)
    assert not life.events(event_type="container.remove", container=f"thesis._.{alice.pw_uid}")


def test_with_aime_containers_ds01_they_go_as_ds01s_own_do(life, users, client):
    alice = users["alice"]
    life.policy.write_text(life.policy.read_text().replace("policies:\n", "policies:\n  aime_containers: ds01\n", 1))
    stopped, stopped_image = aime_made(life, client, alice, "thesis", gpu="1")
    fresh, fresh_image = aime_made(life, client, alice, "later", start=False)
    finished = parse_time(client.api.inspect_container(stopped)["State"]["FinishedAt"]).timestamp()
    created = parse_time(client.api.inspect_container(fresh)["Created"]).timestamp()
    decided = life.decisions("ds01-release-stale", max(finished + 121 * MINUTE, created + 31 * MINUTE))
    assert decided["thesis"]["decision"] == "remove" and decided["later"]["decision"] == "remove"
    assert not exists(client, stopped) and not exists(client, fresh)
    assert not has_own_image(client, stopped_image) and not has_own_image(client, fresh_image)


def test_a_policy_value_other_than_keep_or_ds01_is_refused_with_its_line(life, users):
    life.policy.write_text(life.policy.read_text().replace("policies:\n", "policies:\n  aime_containers: forever\n", 1))
    refused = life.job("ds01-release-stale", 0, check=False)
    assert refused.returncode != 0 and "aime_containers" in refused.stderr and "keep, ds01" in refused.stderr


def test_the_policy_example_and_the_builtin_default_keep_aime_containers():
    from ds01 import policy

    assert policy.BUILTIN_POLICIES["aime_containers"] == "keep"
    assert "aime_containers:" in (REPO / "etc" / "ds01" / "resource-limits.yaml").read_text()
