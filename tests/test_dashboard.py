"""dashboard (issue 19): one record of the server for scripts, and a live view on a pseudo-terminal that draws,
redraws on a resize, and ends on q or Ctrl-C with the terminal as it was. gpu-status --watch shares the view."""

import re

import pexpect

from tests.support import sandbox
from tests.support.gpulab import GpuLab
from tests.support.harness import BIN

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")
QUIT = "q or Ctrl-C quits"


def lab_with_work(user_tmp, users, dockerd):
    lab = GpuLab(user_tmp, users, dockerd)
    alice, bob = users["alice"], users["bob"]
    lab.sh.records(alice, "container-deploy", "train", sandbox.BASE_IMAGE, "--num-gpus", "1", "--background")
    lab.sh.run(bob, "container-create", "notes", sandbox.BASE_IMAGE, "--cpu-only", check=True)
    return lab


def test_the_record_matches_gpu_status_and_shows_each_user_their_own(user_tmp, users, dockerd, sh):
    lab = lab_with_work(user_tmp, users, dockerd)
    alice, bob, admin = users["alice"], users["bob"], users["admin"]
    [view] = lab.sh.records(admin, "dashboard")  # piped: one JSON record
    status = lab.sh.records(admin, "gpu-status")
    assert [{k: v for k, v in g.items() if k != "idle_s"} for g in view["gpus"]] == status
    assert {u["user"] for u in view["users"]} == {alice.pw_name, bob.pw_name}
    [mine] = [u for u in view["users"] if u["user"] == alice.pw_name]
    assert mine["gpu_eq_used"] == lab.sh.records(alice, "gpu-user-status")[0]["gpu_eq_used"] > 0
    assert mine["gpu_eq_max"] == 2.0 and mine["containers_running"] == 1
    assert view["queue"] == [] and view["admin"] is True
    assert {e["event_type"] for e in view["events"]} >= {"container.create", "gpu.allocate", "container.start"}
    [own] = lab.sh.records(bob, "dashboard", "--json")
    assert [u["user"] for u in own["users"]] == [bob.pw_name]
    assert {e["user"] for e in own["events"]} == {bob.pw_name}
    assert len(own["gpus"]) == len(status)  # every slot and its holder, as gpu-status shows everyone


def spawn(lab, user, argv, columns=120, extra=None):
    """A login shell's worth of terminal: `argv` under bash, the terminal's settings printed before and after."""
    script = f'stty -g; {" ".join(argv)}; echo "exit=$?"; stty -g'
    env = lab.sh.env(user, user_env={"TERM": "xterm-256color", **(extra or {})})
    command = sandbox.as_user_command(user, ["bash", "-c", script])
    return pexpect.spawn(command[0], command[1:], env=env, cwd="/", encoding="utf-8", timeout=60,
                         dimensions=(40, columns))


def frames_until(child, accept):
    """Frames the view draws (each ends with its quit line), as plain text, until `accept(frame)`."""
    while True:
        child.expect_exact(QUIT)
        frame = ANSI.sub("", child.before.rsplit("\x1b[H", 1)[-1])  # from the cursor's move home: this frame
        if accept(frame):
            return frame


def test_the_live_view_draws_redraws_on_resize_and_quits_on_q_with_the_terminal_restored(user_tmp, users, dockerd,
                                                                                           sh):
    lab = lab_with_work(user_tmp, users, dockerd)
    alice = users["alice"]
    child = spawn(lab, alice, [str(BIN / "dashboard"), "--watch", "60"])
    before = child.readline().strip()
    wide = frames_until(child, lambda f: "GPUs" in f)
    assert "CONTAINER" in wide and "train" in wide and "Nobody is waiting" in wide
    child.setwinsize(40, 50)  # a redraw at once: the interval is a minute
    narrow = frames_until(child, lambda f: "CONTAINER" not in f)
    assert all(len(line.rstrip()) <= 50 for line in narrow.splitlines()), narrow
    child.send("q")
    child.expect(r"exit=(\d+)")
    assert child.match.group(1) == "0" and "\x1b[?1049l" in child.before  # the normal screen is back
    after = child.readline().strip() or child.readline().strip()
    child.expect(pexpect.EOF)
    assert after == before  # cbreak mode undone


def test_ctrl_c_ends_gpu_status_watch_with_the_terminal_restored_and_no_color_is_respected(user_tmp, users,
                                                                                          dockerd, sh):
    lab = lab_with_work(user_tmp, users, dockerd)
    alice = users["alice"]
    child = spawn(lab, alice, [str(BIN / "gpu-status"), "--watch", "60"])
    before = child.readline().strip()
    child.expect_exact("SLOT")
    child.expect_exact("GPU 3")  # the last GPU's line: a whole frame is on the screen
    child.sendintr()
    child.expect(r"exit=(\d+)")
    assert child.match.group(1) == "0" and "\x1b[?1049l" in child.before
    after = child.readline().strip() or child.readline().strip()
    child.expect(pexpect.EOF)
    assert after == before

    colour = re.compile(r"\x1b\[[0-9;]*3[0-9](;[0-9]+)*m")
    plain = spawn(lab, alice, [str(BIN / "dashboard"), "--once"], extra={"NO_COLOR": "1"})
    plain.expect(r"exit=(\d+)")
    assert plain.match.group(1) == "0" and QUIT in plain.before and not colour.search(plain.before)
    coloured = spawn(lab, alice, [str(BIN / "dashboard"), "--once"])
    coloured.expect(r"exit=(\d+)")
    assert colour.search(coloured.before)  # the states' colours, where colour is welcome
