"""Who is calling: the passwd account behind the process (never os.getlogin()), and whether they are an admin."""

import grp
import os
import pwd
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .policy import Policy


@dataclass(frozen=True)
class User:
    login: str
    uid: int
    gid: int
    home: str

    @property
    def groups(self) -> set[str]:
        """Names of the user's Unix groups (primary and supplementary)."""
        names = {g.gr_name for g in grp.getgrall() if self.login in g.gr_mem}
        try:
            names.add(grp.getgrgid(self.gid).gr_name)
        except KeyError:
            pass
        return names


def user_from_pwd(entry: pwd.struct_passwd) -> User:
    return User(login=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir)


def lookup(login_or_uid: str | int) -> User | None:
    """The account for a login name or numeric uid; None if there is none."""
    try:
        if isinstance(login_or_uid, int) or str(login_or_uid).isdigit():
            return user_from_pwd(pwd.getpwuid(int(login_or_uid)))
        return user_from_pwd(pwd.getpwnam(str(login_or_uid)))
    except KeyError:
        return None


def caller(sudo_uid: str | int | None = None, home: str | None = "/") -> User:
    """The person running a command in-process (ds01d's worker is told its caller: runtime.Served): this
    process's account, or under sudo the user who ran sudo (`sudo_uid`, SUDO_UID), not root."""
    uid = os.getuid()
    if uid == 0 and str(sudo_uid or "").isdigit():
        user = lookup(int(str(sudo_uid)))
        if user is not None:
            return user
    user = lookup(uid)
    if user is None:
        # No passwd entry (e.g. an arbitrary uid in a container): still usable, by number.
        return User(login=str(uid), uid=uid, gid=os.getgid(), home=home or "/")
    return user


def is_admin(user: User, policy: "Policy", root: bool) -> bool:
    """Root (`root`: the caller has root's powers, Runtime.root), a user in access_control.admin_users, or a
    member of access_control.admin_group."""
    return root or is_admin_account(user, policy)


def is_admin_account(user: User, policy: "Policy") -> bool:
    """Whether the account itself is an admin's (root, admin_users, admin_group), whoever asks."""
    if user.uid == 0:
        return True
    access = policy.section("access_control")
    if user.login in (access.get("admin_users") or []):
        return True
    group = access.get("admin_group")
    return bool(group) and group in user.groups
