"""container-recreate never loses a container (issue 31): every check a create would make runs before the old
container is removed, as if it were gone; a refusal changes nothing."""

from ds01 import labels as L
from tests.support import sandbox

IMAGE = sandbox.BASE_IMAGE


def _aime_container(client, entry, name):
    """A container AIME's mlc made (plain docker: ds01 was not asked), owned by `entry`."""
    return client.containers.create(IMAGE, ["sleep", "infinity"], name=f"{name}._.{entry.pw_uid}",
                                    labels={L.USER: entry.pw_name, L.NAME: name},
                                    user=f"{entry.pw_uid}:{entry.pw_gid}")


def _previous_tags(client):
    return [t for image in client.images.list() for t in image.tags if t.endswith(".previous")]


def test_a_recreate_the_container_limit_refuses_removes_nothing(sh, users, client):
    """Four containers (AIME made one beyond ds01's limit of 3): the recreate was refused CONTAINER_LIMIT after
    it had removed MyBox, leaving only a `.previous` tag. Now it is refused first and MyBox stays."""
    alice = users["alice"]
    for name in ("a", "b", "c"):
        sh.run(alice, "container-create", name, IMAGE, "--cpu-only", check=True)
    box = _aime_container(client, alice, "mybox")
    result = sh.run(alice, "container-recreate", "mybox", "--cpu-only")
    assert result.returncode == 3 and "CONTAINER_LIMIT" in result.stderr, result.stderr
    assert "was removed" not in result.stderr
    assert client.containers.get(box.id).name == f"mybox._.{alice.pw_uid}"
    assert _previous_tags(client) == []


def test_at_the_limit_a_recreate_counts_the_container_it_replaces_once(sh, users, client):
    alice = users["alice"]
    for name in ("a", "b"):
        sh.run(alice, "container-create", name, IMAGE, "--cpu-only", check=True)
    old = _aime_container(client, alice, "mybox")  # three of three
    [made] = sh.records(alice, "container-recreate", "mybox", "--cpu-only")
    assert made["name"] == "mybox" and made["id"] != old.id
    assert _previous_tags(client) == []
