"""ds01d: the root broker. Users have no Docker access; their commands reach Docker through it."""

import click

from .. import broker
from ..errors import Ds01Error, PermissionDenied
from ..runtime import Runtime
from ._common import run


@click.command(epilog="""\b
Examples:
  ds01d                                    listen on /run/ds01/ds01.sock (systemd: ds01d.service)
  ds01d --socket /tmp/t/ds01.sock --config /etc/ds01/test.yaml
It runs in the foreground and logs to stderr (the journal). Each request runs in a worker
forked from it, for the caller the kernel names (SO_PEERCRED); the worker uses the caller's
own rights for every file but the Docker socket, the state dir, the event log and root's
configuration. Its settings come from its own environment and --config, never a client's:
clients pass only their terminal variables (TERM, COLUMNS, LINES, LANG, LC_*, NO_COLOR, TZ,
DISPLAY, VISUAL, EDITOR). The config must be root's and writable by no one else.
SIGTERM stops accepting and waits for the running workers.
One ds01d serves a socket: it holds SOCKET.lock (root's, 0600) for its life, so a second one
started on the same socket exits 1 and names the first's pid; a ds01d killed outright holds
nothing (the kernel drops the lock). On the way out ds01d removes the socket only if it is
still the one it bound.
See also: ds01(7), container-list, ds01-events""")
@click.option("--socket", "socket_path", metavar="PATH", default=None,
              help="Where to listen (default /run/ds01/ds01.sock; the socket is 0666, its directory 0755; "
                   "the lock PATH.lock beside it).")
@click.option("--config", "config", metavar="PATH", help="The policy the workers use (default $DS01_CONFIG, "
                                                          "else /etc/ds01/resource-limits.yaml).")
def cli(socket_path, config):
    """Serve ds01's commands to every user of the host, as root, for the caller the kernel names."""
    rt = Runtime(config)
    if not rt.root:
        raise PermissionDenied("ds01d runs as root", hint="systemctl start ds01d")
    try:
        rt.policy  # noqa: B018 - said at start; every worker reads the policy afresh and refuses it too
    except Ds01Error as exc:
        broker.log(f"warning: {exc.message} (each command will say so until it is fixed)")
    overrides = {"DS01_CONFIG": config} if config else {}
    followed = rt.settings.get("docker_host") if rt.settings.get("live_view") != "off" else None
    broker.main(socket_path or rt.settings.get("socket"), overrides, rt.settings.get("notify_socket"), followed)


def main():
    run(cli)
