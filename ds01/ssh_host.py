"""The name users reach this server by (ssh, VS Code's Remote-SSH): the policy's access_control.ssh_host,
else the host's FQDN, which on many hosts is `localhost` (a laptop's own loopback: useless to a student)."""

import ipaddress
import socket
from dataclasses import dataclass


@dataclass
class SshHost:
    name: str
    from_policy: bool
    loopback: bool  # the FQDN fallback resolves only to loopback addresses (or not at all)

    def problem(self) -> str | None:
        """Why users' SSH config would not reach the server, or None."""
        if self.from_policy or not self.loopback:
            return None
        return (f"the policy names no access_control.ssh_host and this host's name {self.name} is a loopback "
                "address: SSH and VS Code configs written for users reach their own laptop, not this server")


def ssh_host(policy) -> SshHost:
    named = policy.section("access_control").get("ssh_host")
    if named:
        return SshHost(named, True, False)
    fqdn = socket.getfqdn()
    return SshHost(fqdn, False, is_loopback(fqdn))


def is_loopback(name: str) -> bool:
    """True when `name` resolves only to loopback addresses (127.0.0.0/8, ::1); a name that does not resolve
    here may still resolve on users' laptops."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        return False
    return all(ipaddress.ip_address(str(a).split("%", 1)[0]).is_loopback for a in addresses)
