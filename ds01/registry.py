"""Every command in one place: bin/, completions, man pages and help are derived from this list."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Command:
    name: str
    module: str
    summary: str
    layer: str
    legacy: tuple = field(default_factory=tuple)

    @property
    def noun(self):
        return self.name.split("-", 1)[0]

    @property
    def verb(self):
        return self.name.split("-", 1)[1] if "-" in self.name else ""


COMMANDS = (
    Command("container-create", "ds01.cli.container_create", "Create a container with your limits (not started)", "atomic"),
    Command("container-start", "ds01.cli.container_start", "Start containers in the background", "atomic"),
    Command("container-stop", "ds01.cli.container_stop", "Stop containers", "atomic"),
    Command("container-remove", "ds01.cli.container_remove", "Remove stopped containers (workspace kept)", "atomic",
            legacy=("container-cleanup",)),
    Command("container-list", "ds01.cli.container_list", "List containers as records", "atomic"),
    Command("image-create", "ds01.cli.image_create", "Write a Dockerfile from the AIME catalog and build your image",
            "atomic"),
    Command("image-update", "ds01.cli.image_update", "Add or remove packages in your image and rebuild it", "atomic"),
    Command("image-list", "ds01.cli.image_list", "Your images, with the containers that use them", "atomic"),
    Command("image-delete", "ds01.cli.image_delete", "Delete images (the Dockerfile is kept)", "atomic",
            legacy=("image-remove",)),
    Command("image-catalog", "ds01.cli.image_catalog", "Framework images the AIME catalog offers for this host",
            "atomic"),
    Command("gpu-allocate", "ds01.cli.gpu_allocate", "Claim GPU slots for a container made next (plumbing)", "atomic"),
    Command("gpu-release", "ds01.cli.gpu_release", "Drop a claim or a stopped container's GPU slots", "atomic"),
    Command("gpu-status", "ds01.cli.gpu_status", "Every GPU slot, its state and who holds it", "atomic"),
    Command("gpu-user-status", "ds01.cli.gpu_user_status", "A user's GPU use against their limits", "atomic"),
    Command("gpu-inventory", "ds01.cli.gpu_inventory", "The GPUs and MIG devices the driver reports", "atomic"),
    Command("gpu-queue", "ds01.cli.gpu_queue", "Requests waiting for a GPU slot, in serving order", "atomic"),
    Command("resource-limits", "ds01.cli.resource_limits", "Show a user's resolved limits", "admin",
            legacy=("get_resource_limits.py",)),
)


# Space syntax: `container stop x` runs `container-stop x`. Beyond `<noun>-<verb>`, each noun may map
# extra verbs (DS01's aliases); a mapping whose target is not a command yet is not offered.
DISPATCHERS = {
    "container": {},
    "image": {},
    "gpu": {},
    "project": {},
    "user": {"new": "user-setup", "get-limits": "check-limits", "limits": "check-limits", "quota": "check-limits"},
    "check": {"limits": "check-limits"},
    "get": {"limits": "check-limits"},
}
DISPATCHER_SUMMARIES = {
    "container": "containers: create, start, stop, remove, list ...", "image": "your images: create, update, list ...",
    "gpu": "GPU slots: status, allocate, release ...", "project": "projects in ~/workspace",
    "user": "your account", "check": "check limits", "get": "get limits",
}


def verbs(noun):
    """{verb: (Command, name typed)} that `noun VERB` runs, in registry order; legacy names included."""
    names = by_name()
    result = {}
    for name, (command, legacy) in names.items():
        if name.startswith(noun + "-"):
            result[name[len(noun) + 1:]] = (command, name)
    for verb, target in DISPATCHERS.get(noun, {}).items():
        if target in names:
            result.setdefault(verb, (names[target][0], target))
    return result


def by_name():
    """Every callable name (current and legacy) -> (Command, legacy name or None)."""
    names = {}
    for command in COMMANDS:
        names[command.name] = (command, None)
        for old in command.legacy:
            names[old] = (command, old)
    return names
