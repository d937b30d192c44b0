"""Every command in one place: bin/, completions, man pages and help are derived from this list, and so is
who may run each command and pass each option, which ds01d enforces before anything runs (ds01/authority.py)."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

# Who may run a command, or pass an option: any caller, admins (access_control in root's policy, and root),
# or root alone (the kernel's uid 0 on the other end of ds01d, or root in-process).
ANYONE, ADMIN, ROOT = "anyone", "admin", "root"
WHO_TEXT = {ANYONE: "any user", ADMIN: "admins only", ROOT: "root only"}
# Options every command has, classified once: the output form and help for anyone; --config, which names the
# policy (a setting), for admins (an admin's is read with their own file rights and must be root's).
# --info (the full help) and --concepts (the command's ideas) are DS01's: read-only and eager like --help.
READING_ONLY = ("--help", "--version", "--info", "--concepts")  # what anyone may ask of any command ds01d serves
COMMON_OPTIONS = {"--json": ANYONE, "--table": ANYONE, "--help": ANYONE, "--version": ANYONE, "--info": ANYONE,
                  "--concepts": ANYONE, "--config": ADMIN}


@dataclass(frozen=True)
class Command:
    name: str
    module: str
    summary: str
    layer: str
    legacy: tuple[str, ...] = field(default_factory=tuple)  # old names: work, with a note on a terminal
    aliases: tuple[str, ...] = field(default_factory=tuple)  # other names: work, no note
    in_container: bool = False  # also useful inside a container (everything else is host-only)
    args: tuple[str, ...] = ()  # completion kind of each positional argument (the last repeats); see ds01/completion_values.py
    place: str = "bin"  # where its executable lives: bin/ (on users' PATH) or libexec/ds01/ (cron, admins)
    who: str = ANYONE  # who may run it (ANYONE, ADMIN, ROOT); ds01d refuses anyone else before parsing
    served: bool = True  # ds01d runs it for callers; False: in-process only, with the caller's own rights
    options: tuple[str, ...] = ()  # options (long names) any caller may pass, besides COMMON_OPTIONS
    admin_options: tuple[str, ...] = ()  # options only admins may pass (they name settings or other people's things)
    concepts: tuple[str, ...] = ()  # the ideas it touches, by name in ds01/concepts.py: --concepts, --info, --guided show them

    @property
    def path(self) -> str:
        return f"libexec/ds01/{self.name}" if self.place == "libexec" else f"bin/{self.name}"

    def option_who(self, option: str) -> "str | None":
        """Who may pass `option` (its long name): the command's own level for an admin or root command,
        else the table's; None when the table does not classify it (a test fails on that)."""
        if option in READING_ONLY and self.served and option not in self.options:
            return ANYONE  # help and the version (eager: they print and exit before any body runs)
        if self.who != ANYONE:
            return self.who
        if option in self.admin_options:
            return ADMIN
        if option in self.options:
            return ANYONE
        return COMMON_OPTIONS.get(option)

    @property
    def noun(self) -> str:
        return self.name.split("-", 1)[0]

    @property
    def verb(self) -> str:
        return self.name.split("-", 1)[1] if "-" in self.name else ""


LAYERS = (
    ("wizard", "Wizards: guided, step by step"),
    ("orchestrator", "Orchestrators: several steps in one"),
    ("atomic", "Atomic commands: one thing each, composable with pipes"),
    ("gpu", "GPU slots"),
    ("aime", "AIME MLC front-ends: AIME's syntax and output, ds01's checks"),
    ("admin", "Admin and reference"),
    ("lifecycle", "Lifecycle jobs (cron; installed in libexec/ds01)"),
)

COMMANDS = (
    Command("user-setup", "ds01.cli.user_setup", "First-time setup: checks, SSH key, VS Code, ~/ONBOARDING.md", "wizard",
            legacy=("new-user", "new-user-setup"),
            options=("--quick", "--no-ssh", "--force"),
            concepts=("workspace", "project", "ds01d")),
    Command("project-init", "ds01.cli.project_init", "A new project in ~/workspace: layout, Dockerfile, git", "wizard",
            legacy=("new-project", "new-project-setup"),
            options=("--type", "--desc", "--framework", "--git", "--devcontainer", "--build", "--jupyter", "--data-science", "--blank", "--quick", "--guided"),
            concepts=("project", "dockerfile", "image", "workspace")),
    Command("project-launch", "ds01.cli.project_launch", "Build the project image if needed, then deploy it", "wizard",
            args=("projects",),
            options=("--rebuild", "--open", "--background", "--cpu-only", "--num-gpus", "--guided"),
            concepts=("project", "image", "container", "gpu-slot", "workspace", "session")),
    Command("devcontainer-init", "ds01.cli.devcontainer_init",
            "A project's .devcontainer/devcontainer.json for VS Code over Remote-SSH", "wizard", args=("projects",),
            options=("--cpu-only", "--extensions", "--force")),
    Command("devcontainer-check", "ds01.cli.devcontainer_check",
            "What ds01 honours, ignores and refuses in a devcontainer.json", "wizard", args=("projects",)),
    Command("ssh-setup", "ds01.cli.ssh_setup", "Your SSH key on this server (user-setup's ssh step)", "wizard",
            options=("--verify",)),
    Command("vscode-setup", "ds01.cli.vscode_setup", "SSH host blocks for VS Code Remote-SSH into your containers",
            "wizard"),
    Command("shell-setup", "ds01.cli.shell_setup", "Do login shells find ds01's commands (PATH)", "wizard",
            options=("--fix", "--check")),
    Command("container-deploy", "ds01.cli.container_deploy", "Create + start, then a shell or background", "orchestrator",
            args=("", "image-or-framework"),
            options=("--project", "--workspace", "--data", "--models", "--cpu-only", "--num-gpus", "--gpu-profile", "--full-gpu", "--wait", "--open", "--background", "--dry-run", "--guided", "--image", "--framework"),
            concepts=("image", "container", "workspace", "gpu-slot", "limits", "session")),
    Command("container-retire", "ds01.cli.container_retire", "Stop + remove + free the GPU (workspace kept)",
            "orchestrator", args=("containers",),
            options=("--force", "--save-packages", "--images", "--all", "--timeout", "--dry-run", "--guided", "--skip-initial-confirm", "--cluster"),
            concepts=("container", "workspace", "gpu-slot", "image")),
    Command("container-create", "ds01.cli.container_create", "Create a container with your limits (not started)", "atomic", args=("", "image-or-framework", "versions"),
            options=("--image", "--arch", "--workspace", "--data", "--models", "--cpu-only", "--num-gpus", "--gpu-profile", "--full-gpu", "--claim", "--wait", "--dry-run", "--guided", "--cluster"),
            concepts=("image", "container", "workspace", "gpu-slot", "mig", "cpu-only", "limits", "catalog")),
    Command("container-recreate", "ds01.cli.container_recreate",
            "Make a stopped container again: same image and mounts, a new GPU request", "atomic", args=("stopped",),
            options=("--num-gpus", "--gpu-profile", "--full-gpu", "--cpu-only"),
            concepts=("container", "image", "gpu-slot", "workspace")),
    Command("container-start", "ds01.cli.container_start", "Start containers in the background", "atomic", args=("stopped",),
            options=("--all", "--guided", "--cluster", "--wait"),
            concepts=("container", "gpu-slot", "lifecycle")),
    Command("container-run", "ds01.cli.container_run", "A shell or one command in your container (started if needed)",
            "atomic", legacy=("container-open",), args=("containers",),
            options=("--keep", "--guided", "--cluster"),
            concepts=("session", "container", "workspace", "lifecycle")),
    Command("container-attach", "ds01.cli.container_attach", "A shell in a running container", "atomic", args=("running",),
            options=("--keep", "--guided"),
            concepts=("session", "container")),
    Command("container-exit", "ds01.cli.container_exit", "How to leave a session and what happens next", "atomic",
            in_container=True,
            served=False,
            concepts=("session", "lifecycle"),
            options=("--guided",)),
    Command("container-stop", "ds01.cli.container_stop", "Stop containers", "atomic", args=("running",),
            options=("--timeout", "--force", "--all", "--guided", "--verbose", "--keep-container", "--cluster"),
            concepts=("container", "gpu-slot", "lifecycle")),
    Command("container-pause", "ds01.cli.container_pause", "Freeze containers (GPU and memory stay held)", "atomic",
            args=("unpaused",),
            options=("--all", "--guided"),
            concepts=("pause", "gpu-slot")),
    Command("container-unpause", "ds01.cli.container_unpause", "Resume paused containers", "atomic", args=("paused",),
            options=("--all", "--guided"),
            concepts=("pause",)),
    Command("container-remove", "ds01.cli.container_remove", "Remove stopped containers (workspace kept)", "atomic",
            legacy=("container-cleanup",), args=("inactive",),
            options=("--force", "--all", "--guided", "--images", "--volumes", "--dry-run", "--skip-removal-confirm", "--skip-save-prompt", "--cluster"),
            concepts=("container", "workspace", "image", "gpu-slot")),
    Command("container-list", "ds01.cli.container_list", "List containers as records", "atomic",
            options=("--all", "--detailed", "--wide", "--guided", "--cluster"), admin_options=("--all-users", "--user"),
            concepts=("container", "records")),
    Command("container-stats", "ds01.cli.container_stats", "CPU, memory, pids, network and GPU use, from the kernel",
            "atomic", args=("running",),
            options=("--watch", "--guided", "-w", "--no-trunc"), admin_options=("--all-users",),
            concepts=("container", "limits", "gpu-slot")),
    Command("container-export", "ds01.cli.container_export",
            "One file with a container's image, labels, GPU request and mount paths", "atomic", args=("containers",),
            options=("--output", "--with-workspace")),
    Command("container-import", "ds01.cli.container_import",
            "A container of yours from a container-export file, checked as container-create checks", "atomic",
            options=("--workspace", "--data", "--models", "--cpu-only", "--num-gpus", "--gpu-profile", "--full-gpu")),
    Command("image-create", "ds01.cli.image_create", "Write a Dockerfile from the AIME catalog and build your image",
            "atomic",
            options=("--framework", "--version", "--arch", "--base-image", "--type", "--packages", "--system", "--requirements", "--jupyter", "--data-science", "--dockerfile", "--no-build", "--no-cache", "--guided", "--force"),
            concepts=("image", "dockerfile", "catalog")),
    Command("image-update", "ds01.cli.image_update", "Add or remove packages in your image and rebuild it", "atomic", args=("images",),
            options=("--add", "--remove", "--add-system", "--requirements", "--edit", "--rebuild", "--no-build", "--no-cache", "--recreate", "--guided"),
            concepts=("image", "dockerfile", "container")),
    Command("image-install", "ds01.cli.image_install", "Add packages to your image and rebuild it (image-update --add)",
            "atomic", args=("images",),
            options=("--system", "--recreate")),
    Command("image-list", "ds01.cli.image_list", "Your images, with the containers that use them", "atomic",
            options=("--wide", "--guided", "--detailed", "--size"), admin_options=("--all-users",),
            concepts=("image", "records")),
    Command("image-delete", "ds01.cli.image_delete", "Delete images (the Dockerfile is kept)", "atomic",
            legacy=("image-remove",), args=("images",),
            options=("--force", "--delete-dockerfile", "--guided", "--keep-dockerfile", "--all"),
            concepts=("image", "dockerfile", "container")),
    Command("image-catalog", "ds01.cli.image_catalog", "Framework images the AIME catalog offers for this host",
            "atomic", args=("frameworks",),
            options=("--arch", "--all-archs"),
            concepts=("catalog", "image")),
    Command("gpu-allocate", "ds01.cli.gpu_allocate", "Claim GPU slots for a container made next (plumbing)", "gpu",
            options=("--num-gpus", "--gpu-profile", "--full-gpu", "--ttl", "--wait"), admin_options=("--user",),
            concepts=("claim", "gpu-slot", "mig", "limits")),
    Command("gpu-release", "ds01.cli.gpu_release", "Drop a claim or a stopped container's GPU slots", "gpu", args=("inactive",),
            concepts=("claim", "gpu-slot", "lifecycle")),
    Command("gpu-status", "ds01.cli.gpu_status", "Every GPU slot, its state and who holds it", "gpu",
            options=("--watch", "--wide", "--cluster"),
            concepts=("gpu-slot", "mig")),
    Command("gpu-user-status", "ds01.cli.gpu_user_status", "A user's GPU use against their limits", "gpu", args=("users",),
            concepts=("gpu-slot", "limits")),
    Command("gpu-inventory", "ds01.cli.gpu_inventory", "The GPUs and MIG devices the driver reports", "gpu",
            concepts=("mig", "gpu-slot")),
    Command("gpu-queue", "ds01.cli.gpu_queue", "Requests waiting for a GPU slot, in serving order", "gpu",
            aliases=("ds01-gpu-queue",), options=("--cluster",),
            concepts=("claim", "gpu-slot")),
    Command("mlc-create", "ds01.cli.mlc_create", "AIME's mlc create: NAME FRAMEWORK VERSION [-w -d -m -g -arch -s]",
            "aime", args=("", "frameworks", "versions"),
            options=("--architecture", "--workspace_dir", "--data_dir", "--models_dir", "--num_gpus", "--info", "--script",
                     "--image", "--cpu-only", "--num-gpus", "--dry-run", "--show-limits"),
            concepts=("aime", "image", "catalog", "workspace", "gpu-slot", "limits")),
    Command("mlc-open", "ds01.cli.mlc_open", "AIME's mlc open: a shell in a container", "aime", args=("containers",),
            options=("--script",),
            concepts=("aime", "session")),
    Command("mlc-list", "ds01.cli.mlc_list", "AIME's mlc list table", "aime",
            options=("--all", "--architecture", "--data", "--models", "--size", "--workspace"), admin_options=("--all_users",),
            concepts=("aime", "container")),
    Command("mlc-start", "ds01.cli.mlc_start", "AIME's mlc start [COMMAND]", "aime", args=("stopped",),
            options=("--detach", "--script"),
            concepts=("aime", "container", "gpu-slot")),
    Command("mlc-stop", "ds01.cli.mlc_stop", "AIME's mlc stop", "aime", args=("running",),
            options=("--force", "--script"),
            concepts=("aime", "container", "lifecycle")),
    Command("mlc-remove", "ds01.cli.mlc_remove", "AIME's mlc remove", "aime", args=("inactive",),
            options=("--force", "--script"),
            concepts=("aime", "container", "workspace")),
    Command("mlc-export", "ds01.cli.mlc_export", "AIME's advertised mlc export NAME [EXPORTED_NAME [LOCATION]]",
            "aime", args=("containers",),
            options=("--with_workspace", "--script")),
    Command("mlc-import", "ds01.cli.mlc_import", "AIME's advertised mlc import FILE | NAME EXPORTED_NAME [LOCATION]",
            "aime",
            options=("--workspace_dir", "--num_gpus", "--script")),
    Command("mlc-stats", "ds01.cli.mlc_stats", "AIME's mlc stats table", "aime",
            concepts=("aime", "container")),
    Command("check-limits", "ds01.cli.check_limits", "Your limits next to what you use now", "admin",
            legacy=("get-limits",), args=("users",),
            options=("--no-sample", "--verbose", "--cluster"),
            concepts=("limits", "lifecycle", "gpu-slot")),
    Command("resource-limits", "ds01.cli.resource_limits", "Show a user's resolved limits", "admin",
            legacy=("get_resource_limits.py",), args=("users",),
            options=("--docker-args", "--field", "--group", "--check-exemption", "--max-gpus", "--max-containers", "--max-ram", "--max-mig-per-container", "--mig-instances-per-gpu", "--allow-full-gpu", "--priority", "--gpu-hold-time", "--container-hold-time", "--idle-timeout", "--max-runtime", "--all-lifecycle", "--lifecycle-policies", "--high-demand-threshold", "--high-demand-reduction", "--aggregate", "--aggregate-gpu-limit"),
            concepts=("limits", "policy", "lifecycle")),
    Command("help", "ds01.cli.help", "The command reference, grouped by layer", "admin",
            aliases=("commands", "alias-list", "aliases"), in_container=True, args=("commands",),
            served=False, options=("--layer", "--inside", "--full", "--admin"),
            concepts=("records", "ds01d")),
    Command("version", "ds01.cli.version", "ds01's version, build, install path, Python and Docker engine", "admin",
            concepts=("ds01d",)),
    Command("mig-configure", "ds01.cli.mig_configure", "Make each GPU's MIG layout the policy's "
            "gpu.mig_layout", "admin", legacy=("ds01-mig-partition",), args=("gpus",),
            who=ADMIN,
            concepts=("mig", "policy")),
    Command("ds01-protect", "ds01.cli.ds01_protect",
            "Keep the lifecycle jobs away from a container", "admin", args=("containers",),
            who=ADMIN,
            concepts=("lifecycle",)),
    Command("ds01-doctor", "ds01.cli.ds01_doctor", "Is this host set up for ds01: a check each, OK, WARN or FAIL",
            "admin", legacy=("ds01-health",),
            who=ADMIN,
            concepts=("policy", "ds01d")),
    Command("ds01-upgrade", "ds01.cli.ds01_upgrade", "Upgrade to a new build, gated by its ds01-doctor --strict",
            "admin",
            who=ROOT,
            concepts=("ds01d",)),
    Command("ds01-events", "ds01.cli.ds01_events", "What happened: the event log, filtered by user, type, time",
            "admin",
            options=("--type", "--container", "--since", "--until", "--limit", "--follow", "--guided"), admin_options=("--user",),
            concepts=("events", "lifecycle")),
    Command("dashboard", "ds01.cli.dashboard", "A live view: GPUs and holders, users against quota, the queue, events",
            "admin", legacy=("ds01-dashboard",),
            options=("--watch", "--once", "--cluster"),
            concepts=("gpu-slot", "limits", "events")),
    Command("ds01-report", "ds01.cli.ds01_report", "GPU-hours and container-hours per user or group",
            "admin", legacy=("ds01-monthly-report",),
            who=ADMIN,
            concepts=("gpu-slot", "events")),
    Command("ds01-alerts", "ds01.cli.ds01_alerts", "Your pending notices; --clear marks them read", "admin",
            options=("--clear",)),
    Command("ds01-backup", "ds01.cli.ds01_backup", "The policy, state and event log as one archive (root)", "admin",
            who=ROOT),
    Command("ds01-idle-check", "ds01.cli.ds01_idle_check", "Warn about, then stop, idle GPU containers",
            "lifecycle", place="libexec", legacy=("ds01-idle", "check-idle-containers"),
            who=ADMIN,
            concepts=("lifecycle", "gpu-slot")),
    Command("ds01-max-runtime", "ds01.cli.ds01_max_runtime", "Stop containers past their maximum runtime or pause time",
            "lifecycle", place="libexec", legacy=("enforce-max-runtime",),
            who=ADMIN,
            concepts=("lifecycle",)),
    Command("ds01-release-stale", "ds01.cli.ds01_release_stale",
            "Hold timers: free the GPUs of, then remove, long-stopped containers", "lifecycle", place="libexec",
            legacy=("cleanup-stale-containers",),
            who=ADMIN,
            concepts=("lifecycle", "gpu-slot")),
    Command("ds01-generate-limits", "ds01.cli.ds01_generate_limits",
            "Per-user totals as systemd slice drop-ins (systemd-driver hosts)", "admin", place="libexec",
            who=ROOT,
            concepts=("limits", "policy")),
    Command("ds01-slurm-generate", "ds01.cli.ds01_slurm_generate",
            "Slurm's config fragments, gres.conf and QOS from the policy (root, head node)", "admin",
            place="libexec",
            who=ROOT,
            concepts=("limits", "policy", "gpu-slot", "mig")),
    Command("ds01-slurm-shim", "ds01.cli.ds01_slurm_shim",
            "A cluster container's Slurm job: the node's ds01d starts it in the job (only inside a job)", "atomic",
            place="libexec", options=("--exec", "--remove", "--workspace", "--data", "--models"),
            concepts=("container", "gpu-slot")),
    Command("ds01-exporter", "ds01.cli.ds01_exporter", "Prometheus metrics: GPUs, containers, users, queue (root, systemd)",
            "admin", place="libexec",
            who=ROOT, served=False,
            concepts=("gpu-slot", "events")),
    Command("ds01d", "ds01.cli.ds01d", "The broker: every user's command reaches Docker through it (root, systemd)",
            "admin", place="libexec",
            who=ROOT, served=False,
            concepts=("ds01d",)),
    Command("ds01-greetings", "ds01.cli.ds01_greetings", "Write each user's one-line login greeting (root, cron)",
            "lifecycle", place="libexec",
            who=ROOT,
            concepts=("limits", "lifecycle")),
    Command("ds01-notify", "ds01.cli.ds01_notify", "Tell a user something on their terminals and in their container",
            "lifecycle", place="libexec", args=("users",),
            who=ADMIN,
            concepts=("lifecycle", "events")),
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
    "mlc": {},
    "devcontainer": {},
}
DISPATCHER_SUMMARIES = {
    "container": "containers: create, start, stop, remove, list ...", "image": "your images: create, update, list ...",
    "gpu": "GPU slots: status, allocate, release ...", "project": "projects in ~/workspace",
    "user": "your account", "check": "check limits", "get": "get limits",
    "mlc": "AIME MLC syntax: create, open, list, start, stop, remove, stats",
    "devcontainer": "VS Code devcontainer.json: init, check",
}


def option_name(param: "click.Parameter") -> str:
    """The name an option is classified by: its first long form (--all-users), else its longest (-arch)."""
    longs = [o for o in param.opts if o.startswith("--")]
    return longs[0] if longs else max(param.opts, key=len)


def verbs(noun: str) -> "dict[str, tuple[Command, str]]":
    """{verb: (Command, name typed)} that `noun VERB` runs, in registry order; legacy names included."""
    names = by_name()
    result: dict[str, tuple[Command, str]] = {}
    for name, (command, _) in names.items():
        if name.startswith(noun + "-"):
            result[name[len(noun) + 1:]] = (command, name)
    for verb, target in DISPATCHERS.get(noun, {}).items():
        if target in names:
            result.setdefault(verb, (names[target][0], target))
    return result


def by_name() -> "dict[str, tuple[Command, str | None]]":
    """Every callable name -> (Command, legacy name or None); aliases map like the name itself."""
    names: dict[str, tuple[Command, str | None]] = {}
    for command in COMMANDS:
        names[command.name] = (command, None)
        for alias in command.aliases:
            names[alias] = (command, None)
        for old in command.legacy:
            names[old] = (command, old)
    return names


def all_names() -> list[str]:
    """Every executable name in bin/: commands, aliases, legacy names and dispatchers."""
    result = list(by_name())
    result += [noun for noun in DISPATCHERS if verbs(noun)] + ["ds01"]
    return result
