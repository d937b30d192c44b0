"""The account ds01 writes into a new container (ds01.images.account_layer), from an image's /etc as the
engine's archive API gives it: what useradd, usermod and passwd -d would have left, with nothing run."""

import io
import tarfile

import pytest

from ds01.images.account_layer import MARKER, Account, existing_home, group_layer, layer, read_etc

UBUNTU_PASSWD = "root:x:0:0:root:/root:/bin/bash\nubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/bash\n"  # noqa: S105 - a passwd file
UBUNTU_GROUP = "root:x:0:\nshadow:x:42:\nubuntu:x:1000:\n"


def etc_tar(files, dirs=("etc", "etc/skel"), shadow_gid=42):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:") as tar:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            data = text.encode()
            info.size, info.mode = len(data), 0o640 if "shadow" in name else 0o644
            info.gid = shadow_gid if "shadow" in name else 0
            tar.addfile(info, io.BytesIO(data))
    return read_etc(buffer.getvalue())


def extracted(made):
    with tarfile.open(fileobj=io.BytesIO(made.tar)) as tar:
        return {m.name: (m, tar.extractfile(m).read().decode() if m.isreg() else None) for m in tar}


def base(**more):
    files = {"etc/passwd": UBUNTU_PASSWD, "etc/group": UBUNTU_GROUP,
             "etc/shadow": "root:*:19000:0:99999:7:::\nubuntu:!:19000:0:99999:7:::\n",
             "etc/gshadow": "root:*::\nubuntu:!::\n", "etc/sudoers": "#includedir /etc/sudoers.d\n",
             "etc/skel/.bashrc": "# skel\n", "etc/skel/.profile": "# profile\n"}
    files.update(more)
    return files


def test_a_new_account_gets_its_group_home_from_skel_empty_password_and_sudo():
    made = layer(etc_tar(base()), Account("alice", 2001, 2002, "thesis", "alice_no_password"), groups={"video": 44})
    files = extracted(made)
    assert "alice:x:2001:2002::/home/alice:/bin/bash" in files["etc/passwd"][1].splitlines()
    assert "alice:x:2002:" in files["etc/group"][1].splitlines() and "alice:!::" in files["etc/gshadow"][1]
    assert files["etc/shadow"][1].splitlines()[-1].startswith("alice::")  # passwd -d
    shadow = files["etc/shadow"][0]
    assert (shadow.mode, shadow.uid, shadow.gid) == (0o640, 0, 42)  # root's, with the image's shadow group
    sudoers = files["etc/sudoers.d/alice_no_password"]
    assert sudoers[1] == "alice ALL=(ALL) NOPASSWD: ALL\n" and (sudoers[0].mode, sudoers[0].uid) == (0o440, 0)
    home, profile = files["home/alice"][0], files["home/alice/.profile"][0]
    assert (home.uid, home.gid, home.isdir()) == (2001, 2002, True) and (profile.uid, profile.gid) == (2001, 2002)
    bashrc = files["home/alice/.bashrc"][1]
    assert bashrc.startswith("# skel\n") and MARKER in bashrc and "'[thesis] '" in bashrc
    assert 'export PATH="/home/alice/.local/bin:$PATH"' in bashrc
    assert MARKER in files["etc/skel/.bashrc"][1]  # later accounts in the container get the lines too
    groups = files["etc/group"][1].splitlines()
    assert "video:x:44:" in groups and not any(g.startswith("sudo:") for g in groups)  # the host's gid, given only
    assert made.warnings == [] and made.home == "/home/alice"


def test_a_uid_the_image_already_has_is_renamed_to_the_callers_login():
    """Ubuntu 24.04's ubuntu (1000:1000) and a caller with uid 1000: usermod -l, as AIME's parity test 36 asks."""
    files = extracted(layer(etc_tar(base()), Account("alice", 1000, 1000, "box", "alice_no_password")))
    passwd = files["etc/passwd"][1].splitlines()
    assert "alice:x:1000:1000:Ubuntu:/home/alice:/bin/bash" in passwd and not any(p.startswith("ubuntu:")
                                                                                      for p in passwd)
    assert files["etc/shadow"][1].splitlines()[-1].startswith("alice::")
    groups = files["etc/group"][1].splitlines()
    assert "ubuntu:x:1000:" in groups and not any(g.startswith("alice:") for g in groups)  # gid 1000 exists


def test_an_account_the_image_has_keeps_its_home_and_bashrc():
    etc = etc_tar(base(**{"etc/passwd": UBUNTU_PASSWD + "alice:x:2001:2001::/srv/alice:/bin/sh\n"}))
    account = Account("alice", 2001, 2001, "box", "alice_no_password")
    assert existing_home(etc, account) == "/srv/alice"
    files = extracted(layer(etc, account, bashrc=b"# mine\n"))
    assert files["srv/alice/.bashrc"][1].startswith("# mine\n")
    assert "srv/alice/.profile" not in files  # an existing home is not refilled from skel
    assert "alice:x:2001:2001::/srv/alice:/bin/bash" in files["etc/passwd"][1]


def test_an_image_without_sudo_gets_no_drop_in_and_a_warning():
    files = base()
    del files["etc/sudoers"]
    made = layer(etc_tar(files), Account("alice", 2001, 2001, "box", "alice_no_password"))
    assert not any(name.startswith("etc/sudoers.d") for name in extracted(made))
    assert made.warnings == ["this image has no sudo, so your container has none (add it to your image)"]


def test_odd_lines_and_hostile_homes_in_the_image_are_kept_or_ignored():
    lines = ("# comment\nroot:x:0:0:root:/root:/bin/bash\nnot a record\n"
             "alice:x:2001:2001::/../../etc:/bin/sh\n")  # alice's home: /etc
    etc = etc_tar(base(**{"etc/passwd": lines}))
    account = Account("alice", 2001, 2001, "box'; rm -rf /; '", "alice_no_password")
    files = extracted(layer(etc, account, bashrc=b""))
    lines = files["etc/passwd"][1].splitlines()
    assert lines[:3] == ["# comment", "root:x:0:0:root:/root:/bin/bash", "not a record"]
    assert not any(name.startswith(("etc/..", "..")) for name in files)
    assert "home/alice/.bashrc" in files and "etc/.bashrc" not in files  # a system dir is no home: /home/LOGIN
    bashrc = files["home/alice/.bashrc"][1]
    assert "export PS1='[box'\"'\"'; rm -rf /; '\"'\"'] '" in bashrc  # the prompt is one quoted word


def test_an_image_without_a_passwd_file_is_refused():
    from ds01.images.account_layer import BadImage

    with pytest.raises(BadImage):
        layer(etc_tar({"etc/group": UBUNTU_GROUP}), Account("alice", 2001, 2001, "box", "x"))


def test_the_cache_gives_back_what_the_image_had_and_ignores_anything_else(tmp_path):
    from ds01.gpu.state import State
    from ds01.images.account_layer import Cache

    etc = etc_tar(base())
    cache = Cache(State(str(tmp_path / "state")))
    image = "sha256:" + "ab" * 32
    assert cache.get(image) is None
    cache.put(image, etc)
    stored = tmp_path / "state" / f"image-etc-{'ab' * 32}.json"
    assert stored.stat().st_mode & 0o777 == 0o600  # shadow lines: root's only
    account = Account("alice", 2001, 2001, "box", "alice_no_password")

    def described(made):
        return {name: (m.mode, m.uid, m.gid, m.type, m.linkname, text) for name, (m, text) in extracted(made).items()}

    assert described(layer(cache.get(image)[0], account)) == described(layer(etc, account))
    assert cache.get(image)[1] == []
    assert cache.get("../../etc/passwd") is None and cache.get("sha256:abc") is None
    stored.write_text('{"files": {"../x": {"type": "0", "mode": 420, "uid": 0, "gid": 0, "linkname": "", '
                      '"data": null}}, "warnings": []}')
    assert cache.get(image) is None  # a damaged entry is read again from the image
    stored.write_text('{"passwd": {"type": "0", "mode": 420, "uid": 0, "gid": 0, "linkname": "", "data": null}}')
    assert cache.get(image) is None  # the format before bounds: read again
    cache.put(image, etc, ["skel left out"])
    assert cache.get(image)[1] == ["skel left out"]


def test_the_groups_ds01_gives_replace_the_images_own_lines_for_them():
    """An image that says `video:x:0:`, has a second video line, a `sudo` of its own gid and a group named like the
    host's video gid (Docker looks a --group-add entry up by name first): each given group is one line with the
    host's gid, nothing else is named like it, and /etc/group is root's 0644 file in root's 0755 /etc whatever
    the image made them."""
    group = "root:x:0:\nvideo:x:0:alice\n44:x:0:\nsudo:x:1234:\nvideo:x:7:\nstaff:x:50:\n"
    etc = etc_tar(base(**{"etc/group": group, "etc/gshadow": "video:!::\n44:!::\nsudo:!::\n"}))
    etc["group"][0].mode, etc["group"][0].uid = 0o666, 2001
    for made in (layer(etc, Account("alice", 2001, 2001, "box", "x"), groups={"video": 44, "sudo": 27}),
                 group_layer({k: v for k, v in etc.items() if k in ("group", "gshadow")}, {"video": 44, "sudo": 27})):
        files = extracted(made)
        groups = files["etc/group"][1].splitlines()
        assert [g for g in groups if g.split(":")[0] in ("video", "sudo", "44")] == ["video:x:44:", "sudo:x:27:"]
        assert "root:x:0:" in groups and "staff:x:50:" in groups  # the image's other groups stay
        gshadow = files["etc/gshadow"][1].splitlines()
        assert [g for g in gshadow if g.split(":")[0] in ("video", "sudo", "44")] == ["video:!::", "sudo:!::"]
        info = files["etc/group"][0]
        assert (info.mode, info.uid, info.gid) == (0o644, 0, 0)
        directory = files["etc"][0]
        assert directory.isdir() and (directory.mode, directory.uid, directory.gid) == (0o755, 0, 0)
    assert "etc/passwd" not in extracted(group_layer({"group": etc["group"]}, {"video": 44}))  # the account stays


def test_a_skel_of_too_many_entries_is_refused_as_a_whole():
    from ds01.images.account_layer import MAX_SKEL_ENTRIES, TooLarge, bounded

    files = base(**{f"etc/skel/f{i}": "x" for i in range(MAX_SKEL_ENTRIES)})
    with pytest.raises(TooLarge):
        etc_tar(files)
    with pytest.raises(TooLarge, match="larger than 1 MiB"):
        bounded(iter([b"x" * 600_000, b"x" * 600_000]), 1 << 20, "/etc/skel")
