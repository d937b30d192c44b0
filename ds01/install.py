"""`make install` and `make uninstall`: a versioned, self-contained tree per build, a `current` link, and the
system files (man pages, completions, shell snippets, cron, logrotate, tmpfiles, systemd units) that point at it.

    python3 -m ds01.install [--prefix /opt/ds01] [--sysconfdir /etc] [--destdir DIR] [--uninstall]

The tree `<prefix>/<version>-<commit>/` holds its own venv (ds01 installed into it, not editable),
`bin/` with ds01's user commands only (the one directory profile.d puts on PATH: never the venv's,
whose python and pip would shadow the users' own), `libexec/ds01/` for cron and systemd, and the
man pages, completions and shipped `etc/` of that build. `<prefix>/current` points at the tree in
use; the system files point through `current`, so switching it (ds01-upgrade) switches all of
them at once. `/etc/ds01/*` is installed only where absent: an admin's policy is never replaced.
Everything installed outside the tree is listed in `<prefix>/installed-files`, which uninstall
removes (`/etc/ds01` stays). Only the standard library is used: this runs before ds01's
dependencies exist.
"""

import argparse
import grp
import os
import pwd
import shutil
import subprocess
import sys

from . import __version__, version
from .version import commit

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COPIED = ("ds01", "bin", "libexec", "man", "completions", "etc", "setup.py", "pyproject.toml", "README.md")
MANIFEST = "installed-files"


def build_name(source=SOURCE):
    found = commit(source)
    return f"{__version__}-{found[:12]}" if found else __version__


def _ignore(_directory, names):
    return [n for n in names if n in ("__pycache__", ".venv", ".git") or n.endswith((".pyc", ".egg-info"))]


def make_tree(tree, python, source=SOURCE, log=print, final=None):
    """The build's tree: the sources, a venv with ds01 installed, bin/ and libexec/ds01/ of ds01's commands.
    `final` is where the tree will live when it is made under a staging root (DESTDIR)."""
    if os.path.exists(tree):
        shutil.rmtree(tree)
    src = os.path.join(tree, "src")
    os.makedirs(src)
    for name in COPIED:
        path = os.path.join(source, name)
        if os.path.isdir(path):
            shutil.copytree(path, os.path.join(src, name), ignore=_ignore, symlinks=True)
        elif os.path.exists(path):
            shutil.copy2(path, os.path.join(src, name))
    with open(os.path.join(src, "ds01", "BUILD"), "w", encoding="utf-8") as handle:  # installed with the package
        handle.write(f"commit={version.commit(source) or ''}\ntree={final or tree}\n")
    venv = os.path.join(tree, "venv")
    log(f"creating {venv} ...")
    made = subprocess.run([python, "-m", "venv", venv], capture_output=True, text=True)
    pip = [os.path.join(venv, "bin", "python3"), "-m", "pip"]
    if made.returncode != 0:  # Debian without python3-venv: a venv without pip, filled by the system's pip
        subprocess.run([python, "-m", "venv", "--without-pip", venv], check=True)
        pip = [python, "-m", "pip", "--python", os.path.join(venv, "bin", "python3")]
    log("installing ds01 and its dependencies into it ...")
    subprocess.run([*pip, "install", "--quiet", "--disable-pip-version-check", src], check=True)
    interpreter = os.path.join(venv, "bin", "python3")
    subprocess.run([interpreter, "-I", "-c", "import sys; from ds01.generate.bins import isolate; "
                    "isolate(*sys.argv[1:])", os.path.join(venv, "bin"), interpreter], check=True, cwd="/")
    subprocess.run([interpreter, "-I", "-m", "compileall", "-q", _site_packages(interpreter)], check=False, cwd="/")
    if final and final != tree:
        _relocate(os.path.join(venv, "bin"), tree, final)
    for place, directory in (("bin", os.path.join(tree, "bin")), ("libexec", os.path.join(tree, "libexec", "ds01"))):
        os.makedirs(directory)
        for name in sorted(os.listdir(os.path.join(src, place if place == "bin" else "libexec/ds01"))):
            target = os.path.join(venv, "bin", name)
            if os.path.exists(target):
                os.symlink(os.path.relpath(target, directory), os.path.join(directory, name))
    for name in ("man", "completions", "etc"):
        os.symlink(os.path.join("src", name), os.path.join(tree, name))


def _relocate(directory, staged, final):
    """Scripts made under the staging root name where they will be run from."""
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except UnicodeDecodeError:
            continue
        if staged in text:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text.replace(staged, final))


def _site_packages(interpreter):
    found = subprocess.run([interpreter, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True, cwd="/")
    return found.stdout.strip()


# Where man and the shells look (--mandir, --bashcompdir, --zshcompdir move them: tests, other distributions).
DIRS = {"mandir": "/usr/local/share/man", "bashcompdir": "/etc/bash_completion.d",
        "zshcompdir": "/usr/local/share/zsh/site-functions"}


def system_files(prefix, sysconfdir, source=SOURCE):
    """(path outside the tree, how): ("link", target through current) or ("copy", file in the tree's src)."""
    current = os.path.join(prefix, "current")
    mandir = DIRS["mandir"]
    files = []
    for section in ("man1", "man5", "man7"):
        for name in sorted(os.listdir(os.path.join(source, "man", section))):
            files.append((f"{mandir}/{section}/{name}", ("link", f"{current}/man/{section}/{name}")))
    files.append((os.path.join(DIRS["bashcompdir"], "ds01"),
                  ("link", f"{current}/completions/ds01.bash")))
    files.append((os.path.join(DIRS["zshcompdir"], "_ds01"),
                  ("link", f"{current}/completions/_ds01")))
    for rel in ("profile.d/ds01.sh", "zsh/ds01.zsh", "cron.d/ds01", "logrotate.d/ds01", "tmpfiles.d/ds01.conf"):
        files.append((os.path.join(sysconfdir, rel), ("copy", f"etc/{rel}")))
    for unit in ("ds01d.service", "ds01-exporter.service"):
        files.append((os.path.join(sysconfdir, "systemd", "system", unit), ("copy", f"etc/systemd/{unit}")))
    return files


def exporter_auth(path):
    """ds01-exporter's scrape password, made once (kept like the policy): root:prometheus 0640, so only root
    and Prometheus read it; root's alone (0600) where there is no prometheus group yet (docs/monitoring.md)."""
    import secrets  # lazy: secrets, 4 ms

    if os.path.lexists(path):
        return
    handle = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "w")
    with handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    try:
        group = grp.getgrnam("prometheus").gr_gid
    except KeyError:
        return
    # this process's own rights: only root can chown
    if os.geteuid() == 0:
        os.chown(path, 0, group)
        os.chmod(path, 0o640)


def _place(root, path):
    return os.path.join(root, path.lstrip("/")) if root else path


def _adapt(text, prefix):
    """The shipped files name /opt/ds01; an install elsewhere names its own prefix."""
    return text if prefix == "/opt/ds01" else text.replace("/opt/ds01", prefix)


def install(prefix="/opt/ds01", sysconfdir="/etc", destdir="", python=sys.executable, log=print, tree_only=False):
    """Install this checkout's build beside any others and (unless `tree_only`) make it current; returns the
    tree's path."""
    base = _place(destdir, prefix)
    os.makedirs(base, exist_ok=True)
    name = build_name()
    tree = os.path.join(base, name)
    if os.path.realpath(os.path.join(base, "current")) == os.path.realpath(tree) and tree_only:
        raise SystemExit(f"{name} is the build in use: nothing to build beside it")
    make_tree(tree, python, log=log, final=os.path.join(prefix, name))
    if not tree_only:
        activate(name, prefix, sysconfdir, destdir, log)
    return tree


def activate(name, prefix="/opt/ds01", sysconfdir="/etc", destdir="", log=print):
    """Make the tree `name` current and put its system files in place (its own cron, units, snippets)."""
    base = _place(destdir, prefix)
    tree = os.path.join(base, name)
    if not os.path.isdir(os.path.join(tree, "src")):
        raise SystemExit(f"no build {name} in {base}")
    switch(base, name)
    installed, made = [], []

    def makedirs(directory):
        """Make `directory` and its missing parents, remembering each one made (uninstall removes them)."""
        missing = []
        while not os.path.isdir(_place(destdir, directory)):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for each in reversed(missing):
            os.mkdir(_place(destdir, each), 0o755)
            made.append(each)

    for path, (how, what) in system_files(prefix, sysconfdir, os.path.join(tree, "src")):
        placed = _place(destdir, path)
        makedirs(os.path.dirname(path))
        if os.path.lexists(placed) or os.path.isdir(placed):
            os.unlink(placed)
        if how == "link":
            os.symlink(what, placed)
        else:
            with open(os.path.join(tree, "src", what), encoding="utf-8") as handle:
                text = _adapt(handle.read(), prefix)
            with open(placed, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(placed, 0o644)
        installed.append(path)
    policy_dir = _place(destdir, os.path.join(sysconfdir, "ds01"))
    for directory, _, names in os.walk(os.path.join(tree, "src", "etc", "ds01")):
        rel = os.path.relpath(directory, os.path.join(tree, "src", "etc", "ds01"))
        os.makedirs(os.path.join(policy_dir, rel), mode=0o755, exist_ok=True)  # kept by uninstall
        for entry in names:
            target = os.path.join(policy_dir, rel, entry)
            if not os.path.exists(target):  # an admin's file stays as it is
                shutil.copy2(os.path.join(directory, entry), target)
                os.chmod(target, 0o644)
    exporter_auth(os.path.join(policy_dir, "exporter.auth"))
    earlier = _manifest(base)[1]  # directories an earlier install made stay this one's to remove
    made = [d for d in earlier if os.path.isdir(_place(destdir, d)) and d not in made] + made
    with open(os.path.join(base, MANIFEST), "w", encoding="utf-8") as handle:
        handle.write("".join(f"file {p}\n" for p in installed) + "".join(f"dir {d}\n" for d in made))
    if not destdir and os.path.isdir("/run/systemd/system"):
        subprocess.run(["systemctl", "daemon-reload"], check=False)
    if not destdir and os.path.realpath(sysconfdir) == "/etc":  # the host's own directories: only for its /etc
        apply_tmpfiles(os.path.join(sysconfdir, "tmpfiles.d", "ds01.conf"), log)
    log(f"{os.path.join(base, 'current')} -> {name}")


def apply_tmpfiles(conf, log=print):
    """The directories and files `conf` (tmpfiles.d/ds01.conf) names, now: through systemd-tmpfiles where it is
    installed (it needs no running systemd), else made here as the file says (its types d and f are all ds01's
    file uses). Without them the event log, and so ds01-report, would be lost with a warning per command."""
    tool = shutil.which("systemd-tmpfiles")
    if tool:
        done = subprocess.run([tool, "--create", conf], check=False)
        log(f"{conf}: applied by systemd-tmpfiles" + ("" if done.returncode == 0 else f" (exit {done.returncode})"))
        return

    with open(conf, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if not fields or fields[0].startswith("#") or fields[0] not in ("d", "f") or len(fields) < 5:
                continue
            kind, path, mode, user, group = fields[:5]
            if kind == "d":
                os.makedirs(path, exist_ok=True)
            elif not os.path.lexists(path):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError:
                gid = 0  # a group the host lacks (adm): root's
            os.chown(path, pwd.getpwnam(user).pw_uid, gid, follow_symlinks=False)
            os.chmod(path, int(mode, 8))
    log(f"{conf}: no systemd-tmpfiles on this host; made its directories and files as it says")


def switch(base, name):
    """Point `current` at `name` in one rename (a reader sees the old tree or the new, never none)."""
    link = os.path.join(base, "current")
    temporary = f"{link}.new"
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(name, temporary)
    os.replace(temporary, link)


def uninstall(prefix="/opt/ds01", sysconfdir="/etc", destdir="", log=print):
    """Remove every tree, every file the install put outside them and the directories it made for them;
    `<sysconfdir>/ds01` stays."""
    base = _place(destdir, prefix)
    files, dirs = _manifest(base)
    if not os.path.exists(os.path.join(base, MANIFEST)):
        files = [path for path, _ in system_files(prefix, sysconfdir)]
    for path in files:
        if os.path.lexists(_place(destdir, path)):
            os.unlink(_place(destdir, path))
    for directory in sorted(dirs, key=len, reverse=True):  # the deepest first
        try:
            os.rmdir(_place(destdir, directory))
        except OSError:
            pass  # something else lives there now: it stays
    if os.path.isdir(base):
        shutil.rmtree(base)
    log(f"removed {base} and {len(files)} files; kept {os.path.join(sysconfdir, 'ds01')} (the policy), "
        "/var/log/ds01 (the event log: what ds01-report counts) and /var/lib/ds01 (claims, reservations)")


def _manifest(base):
    """(files, directories) the installs under `base` put outside their trees."""
    files: list[str] = []
    dirs: list[str] = []
    try:
        with open(os.path.join(base, MANIFEST), encoding="utf-8") as handle:
            for line in handle:
                kind, _, path = line.strip().partition(" ")
                (files if kind == "file" else dirs).append(path)
    except FileNotFoundError:
        pass
    return files, dirs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prefix", default="/opt/ds01")
    parser.add_argument("--sysconfdir", default="/etc")
    parser.add_argument("--destdir", default="")
    parser.add_argument("--python", default="/usr/bin/python3" if os.path.exists("/usr/bin/python3") else
                        sys.executable)
    parser.add_argument("--uninstall", action="store_true")
    parser.add_argument("--tree-only", action="store_true", help="build the tree beside the others; switch nothing")
    parser.add_argument("--activate", metavar="BUILD", help="make an installed build current (ds01-upgrade)")
    for name, default in DIRS.items():
        parser.add_argument(f"--{name}", default=default)
    args = parser.parse_args(argv)
    DIRS.update({name: getattr(args, name) for name in DIRS})
    if args.uninstall:
        uninstall(args.prefix, args.sysconfdir, args.destdir)
    elif args.activate:
        activate(args.activate, args.prefix, args.sysconfdir, args.destdir)
    else:
        tree = install(args.prefix, args.sysconfdir, args.destdir, args.python, tree_only=args.tree_only)
        print(f"tree: {tree}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

