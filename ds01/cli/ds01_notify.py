"""ds01-notify: deliver a notice to a user's terminals and into their container's /workspace/.ds01-alerts."""

import sys

import click

from .. import notify
from ..errors import NotFound, PermissionDenied, UsageError
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  ds01-notify alice "GPU 2 goes into maintenance at 18:00"
  ds01-notify alice --container thesis --title "disk almost full" "Please clean /workspace/tmp"
  echo "a longer notice" | ds01-notify alice
Terminals are the user's logins in utmp (who); only terminals the user owns are written.
With --container (running), the text is also appended to /workspace/.ds01-alerts inside it,
written as the container's owner from outside it (nothing runs in the container). The lifecycle jobs
use the same delivery. Admins only.
Testing: DS01_UTMP and DS01_TTY_DIR point at a utmp file and a terminal directory.
See also: ds01-idle-check, ds01-events""")
@click.argument("user")
@click.argument("message", nargs=-1)
@click.option("--container", metavar="NAME", help="Also append to /workspace/.ds01-alerts in this running container.")
@click.option("--title", default="notice", show_default=True, help="The notice's first line.")
@output_options
@config_option
def cli(user, message, container, title, json_flag, table_flag, config):
    """Send MESSAGE (or stdin) to USER; prints where it was delivered."""
    from ..identity import lookup  # lazy: ds01.identity, 0.6 ms

    rt = Runtime(config)
    if not rt.admin:
        raise PermissionDenied("only admins send notices", hint="ask an admin (access_control.admin_users)")
    target = lookup(user)
    if target is None:
        raise NotFound(f"no user {user!r}")
    text = " ".join(message) if message else ("" if sys.stdin.isatty() else sys.stdin.read())
    if not text.strip():
        raise UsageError("no message given", hint="pass it as arguments or on stdin")
    cid = None
    if container:
        rec = rt.finder.find(container)
        if rec["status"] != "running":
            raise UsageError(f"{rec['name']} is {rec['status']}; only a running container gets the alerts file")
        cid = rt.api.inspect_container(rec["id"])
    result = notify.deliver(target.login, target.uid, notify.banner(title, text, rt.now()), cid,
                            rt.engine if cid else None, **notify.places(rt))
    for error in result["errors"]:
        sys.stderr.write(f"ds01-notify: warning: {error}\n")
    out = new_output(json_flag, table_flag, [("user", "USER"), ("terminals", "TERMINALS"),
                                             ("container", "CONTAINER"), ("alerts_file", "ALERTS FILE")])
    out.emit({"user": target.login, "container": container, **result})
    out.close()
    if not result["terminals"] and not result["alerts_file"]:
        sys.stderr.write(f"ds01-notify: {target.login} has no terminal to write to"
                         + (" and the container could not be written" if cid else "") + "\n")


def main():
    run(cli)
