"""Python packages installed in a container since it was created, and saving them into the user's image.

Both sides are listed the same way: a throw-away container (no network, the user's uid:gid)
runs python3 and reads `importlib.metadata`, so pip need not exist and `pip install --user`
counts. The container's side is read from a commit of it, so a stopped container works too.
"""

import json
import os

from .. import labels as L
from ..errors import Ds01Error

LIST_SCRIPT = ("import importlib.metadata as m, json\n"
               "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions() if d.metadata['Name']}))")


def listing(engine, image, uid, gid):
    """{name (normalised): version} of the Python distributions visible to uid:gid in `image`; {} without python3."""
    from .packages import canonical  # lazy: ds01.images.packages, 2 ms

    api = engine.api
    box = api.create_container(image, command=["python3", "-c", LIST_SCRIPT], entrypoint=[], user=f"{uid}:{gid}",
                               host_config=api.create_host_config(network_mode="none"),
                               environment={"NVIDIA_VISIBLE_DEVICES": "void"})
    try:
        api.start(box["Id"])
        status = api.wait(box["Id"], timeout=120).get("StatusCode")
        output = api.logs(box["Id"], stdout=True, stderr=False).decode(errors="replace")
    except engine.errors.APIError as exc:
        if "executable file not found" in str(exc):
            return {}
        raise Ds01Error(f"cannot list the Python packages in {image}: {exc.explanation or exc}") from None
    finally:
        try:
            api.remove_container(box["Id"], force=True)
        except engine.errors.APIError:
            pass
    if status != 0:
        return {}
    try:
        return {canonical(k): v for k, v in json.loads(output.strip().splitlines()[-1]).items()}
    except (ValueError, IndexError):
        return {}


def diff(before, after):
    """What changed from `before` to `after`: {added: {name: version}, upgraded: {name: [old, new]}}."""
    added = {k: v for k, v in sorted(after.items()) if k not in before}
    upgraded = {k: [before[k], v] for k, v in sorted(after.items()) if k in before and before[k] != v}
    return {"added": added, "upgraded": upgraded}


def describe(change):
    lines = [f"  + {name}=={version}" for name, version in change["added"].items()]
    lines += [f"  ~ {name} {old} -> {new}" for name, (old, new) in change["upgraded"].items()]
    return "\n".join(lines)


def snapshot(engine, container_id, base_image, uid, gid):
    """Commit the container to a temporary tag with the base image's own config (so no container
    label, GPU or environment is baked in); returns (tag, image id)."""
    api = engine.api
    base = (api.inspect_image(base_image).get("Config") or {})
    info = api.inspect_container(container_id)
    container_labels = info["Config"].get("Labels") or {}
    labels = {key: "" for key in container_labels if key not in (base.get("Labels") or {})}
    labels.update(base.get("Labels") or {})
    labels.update({L.USER_ID: str(uid), L.GROUP_ID: str(gid)})  # the account is inside now
    env = [e for e in base.get("Env") or [] if not e.startswith("NVIDIA_VISIBLE_DEVICES=")]
    base_gpus = next((e for e in base.get("Env") or [] if e.startswith("NVIDIA_VISIBLE_DEVICES=")), None)
    env.append(base_gpus or "NVIDIA_VISIBLE_DEVICES=void")  # else the container's slots would be baked in
    conf = {"Labels": labels, "Env": env, "Cmd": base.get("Cmd") or ["bash"], "Entrypoint": base.get("Entrypoint"),
            "WorkingDir": base.get("WorkingDir") or "/workspace", "User": base.get("User") or ""}
    repository, tag = "ds01-retire-snapshot", info["Id"][:12]
    try:
        result = api.commit(container_id, repository=repository, tag=tag, conf=conf)
    except engine.errors.APIError as exc:
        raise Ds01Error(f"cannot snapshot {info['Name'].lstrip('/')}: {exc.explanation or exc}") from None
    return f"{repository}:{tag}", result["Id"]


def keep(engine, snapshot_tag, target):
    """Tag the snapshot as `target` (the user's image); returns the full reference."""
    repository, tag = target.rsplit(":", 1) if ":" in target.rsplit("/", 1)[-1] else (target, "latest")
    engine.api.tag(snapshot_tag, repository, tag, force=True)
    drop(engine, snapshot_tag)
    return f"{repository}:{tag}"


def record_in_dockerfile(path, change, user):
    """Add the saved packages to the Dockerfile's `additional` phase, so a rebuild installs them too.

    Returns True when the file was changed; a Dockerfile without ds01's markers gets the phase added.
    """
    from . import dockerfile as D  # lazy: ds01.images.dockerfile, 3 ms
    from . import save_dockerfile  # lazy: ds01.images, 1 ms

    if not path or not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as handle:
        blocks = D.Blocks(handle.read(), path)
    blocks.ensure("pip", "additional")
    from .packages import canonical, name_of  # lazy: ds01.images.packages, 2 ms

    saved = {**change["added"], **{name: versions[1] for name, versions in change["upgraded"].items()}}
    listed = {canonical(name_of(p)) for _, p in blocks.all_packages("pip")}
    additions = [f"{name}=={version}" for name, version in saved.items() if name not in listed]
    if not additions:
        return False
    blocks.set("additional", blocks.packages["additional"] + additions)
    save_dockerfile(path, blocks.text(), user)
    return True


def drop(engine, snapshot_tag):
    try:
        engine.api.remove_image(snapshot_tag)
    except engine.errors.APIError:
        pass
