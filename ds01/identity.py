"""Who is calling: the passwd account behind the process (never os.getlogin()), and whether they are an admin."""

import grp
import os
import pwd
from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    login: str
    uid: int
    gid: int
    home: str

    @property
    def groups(self):
        """Names of the user's Unix groups (primary and supplementary)."""
        names = {g.gr_name for g in grp.getgrall() if self.login in g.gr_mem}
        try:
            names.add(grp.getgrgid(self.gid).gr_name)
        except KeyError:
            pass
        return names


def user_from_pwd(entry):
    return User(login=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir)


def lookup(login_or_uid):
    """The account for a login name or numeric uid; None if there is none."""
    try:
        if isinstance(login_or_uid, int) or str(login_or_uid).isdigit():
            return user_from_pwd(pwd.getpwuid(int(login_or_uid)))
        return user_from_pwd(pwd.getpwnam(str(login_or_uid)))
    except KeyError:
        return None


def caller(sudo_uid=None, home="/"):
    """The person running the command: in a ds01d worker, the one the kernel named (SO_PEERCRED);
    under sudo, the user who ran sudo (`sudo_uid`, SUDO_UID), not root."""
    from .privilege import acting_for

    acting = acting_for()
    if acting is not None:
        return acting
    uid = os.getuid()
    if uid == 0 and str(sudo_uid or "").isdigit():
        user = lookup(int(sudo_uid))
        if user is not None:
            return user
    user = lookup(uid)
    if user is None:
        # No passwd entry (e.g. an arbitrary uid in a container): still usable, by number.
        return User(login=str(uid), uid=uid, gid=os.getgid(), home=home or "/")
    return user


def has_root():
    """True when the caller has root's powers: runs as root (or through sudo) in-process, or is root
    on the other end of ds01d. A worker's own root acts for its caller and does not count."""
    from .privilege import acting_for

    acting = acting_for()
    return acting.uid == 0 if acting is not None else os.geteuid() == 0


def is_admin(user, policy):
    """Root, a user in access_control.admin_users, or a member of access_control.admin_group."""
    return has_root() or is_admin_account(user, policy)


def is_admin_account(user, policy):
    """Whether the account itself is an admin's (root, admin_users, admin_group), whoever asks."""
    if user.uid == 0:
        return True
    access = policy.section("access_control")
    if user.login in (access.get("admin_users") or []):
        return True
    group = access.get("admin_group")
    return bool(group) and group in user.groups
