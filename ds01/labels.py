"""Label keys, in AIME's `aime.mlc.*` namespace, and how to read old containers' labels.

ds01 writes the ten AIME v4 labels exactly as AIME does, plus its own `aime.mlc.DS01_*` keys.
It reads AIME v1-v4 and DS01's `ds01.*` labels so a migrating lab sees its old containers.
No value may contain a comma: AIME's `mlc list` splits the label string on commas.
"""

from collections.abc import Mapping
from typing import Any

OWNER = "aime.mlc"
NAME = "aime.mlc.NAME"
USER = "aime.mlc.USER"
ARCH = "aime.mlc.ARCH"
MLC_VERSION = "aime.mlc.MLC_VERSION"
WORK_MOUNT = "aime.mlc.WORK_MOUNT"
DATA_MOUNT = "aime.mlc.DATA_MOUNT"
MODELS_MOUNT = "aime.mlc.MODELS_MOUNT"
FRAMEWORK = "aime.mlc.FRAMEWORK"
GPUS = "aime.mlc.GPUS"

MANAGED = "aime.mlc.DS01_MANAGED"
CUSTOM_IMAGE = "aime.mlc.CUSTOM_IMAGE"
GROUP = "aime.mlc.DS01_GROUP"
CREATED_AT = "aime.mlc.DS01_CREATED_AT"
INTERFACE = "aime.mlc.DS01_INTERFACE"
IMAGE = "aime.mlc.DS01_IMAGE"
PROTECTED = "aime.mlc.DS01_PROTECTED"
USER_ID = "aime.mlc.DS01_USER_ID"
GROUP_ID = "aime.mlc.DS01_GROUP_ID"
GPU_SLOTS = "aime.mlc.DS01_GPU_SLOTS"
GPU_UUIDS = "aime.mlc.DS01_GPU_UUIDS"
GPU_EQ = "aime.mlc.DS01_GPU_EQ"
# On images ds01 builds (image-create):
MAINTAINER = "aime.mlc.MAINTAINER"
BASE_IMAGE = "aime.mlc.DS01_BASE_IMAGE"
DOCKERFILE = "aime.mlc.DS01_DOCKERFILE"

MLC_CONTAINER_VERSION = "4"
LIST_SEPARATOR = ";"

# DS01 (ds01-infra) label keys, read for migration.
DS01_USER = "ds01.user"
DS01_NAME = "ds01.name"
DS01_MANAGED = "ds01.managed"
DS01_FRAMEWORK = "ds01.framework"
DS01_INTERFACE = "ds01.interface"
DS01_CREATED_AT = "ds01.created_at"
DS01_WORK_MOUNT = "ds01.work_mount"
DS01_DATA_MOUNT = "ds01.data_mount"
DS01_MODELS_MOUNT = "ds01.models_mount"
DS01_ARCH = "ds01.arch"
DS01_GPUS = "ds01.gpus"
DS01_GPU_UUIDS = ("ds01.gpu.uuids", "ds01.gpu.uuid", "ds01.gpu_slot")
DS01_PROTECTED = "ds01.protected"
DS01_USER_SETUP = "ds01.has_user_setup"
DS01_CONTAINER_TYPE = "ds01.container_type"
MOUNT_PINS = "ds01.mount_pins"  # the directory of the container's bind points (ds01.mount_pins)
AIME_USERNAME = "aime.mlc.username"  # AIME v1-v3

# Keys ds01 reads as facts about a container (its owner, GPUs, protection, how it was made). A
# container inherits its image's labels, and a user writes their image: every create sets each of
# these itself (empty when it has nothing to say), so no image can claim GPUs, an owner or protection.
CONTAINER_FACTS = (PROTECTED, GPU_SLOTS, GPU_UUIDS, GPU_EQ, DS01_USER, DS01_NAME, DS01_MANAGED, DS01_INTERFACE,
                   DS01_CONTAINER_TYPE, DS01_CREATED_AT, DS01_GPUS, *DS01_GPU_UUIDS, DS01_PROTECTED, AIME_USERNAME,
                   MOUNT_PINS)
DS01_IMAGE_UID = "ds01.user_id"
DS01_IMAGE_GID = "ds01.group_id"


def clean(value: Any) -> str:
    """A label value safe for AIME's list: commas become semicolons, None becomes empty."""
    return "" if value is None else str(value).replace(",", LIST_SEPARATOR)


def is_tracked(labels: Mapping[str, Any]) -> bool:
    """True for containers made by AIME (any version), DS01 or ds01."""
    return OWNER in labels or USER in labels or DS01_USER in labels or MANAGED in labels


def owner(labels: Mapping[str, Any]) -> Any:
    """The owner's login as recorded in labels (AIME first, then DS01), or None."""
    for key in (USER, OWNER, DS01_USER, AIME_USERNAME):
        value = labels.get(key)
        if value:
            return value
    return None


def either(labels: Mapping[str, Any], key: str | None, ds01_key: str | None) -> Any:
    """AIME's label as written (even `-`) when present, else DS01's twin, else ''."""
    if key is not None and key in labels:
        return labels[key]
    return labels.get(ds01_key, "") if ds01_key is not None else ""


def names_gpus(labels: Mapping[str, Any]) -> bool:
    """True when the labels say a GPU was asked for (AIME's `-g`, DS01's `ds01.gpus`) without naming UUIDs."""
    value = labels.get(GPUS, labels.get(DS01_GPUS, ""))
    return value not in ("", "-", "none", "void") and not gpu_uuids(labels)


def first(labels: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = labels.get(key)
        if value not in (None, "", "-"):
            return value
    return None


def split_list(value: str | None) -> list[str]:
    """Items of a label list; accepts ds01's `;` and DS01's `,`."""
    if not value:
        return []
    return [item for item in value.replace(",", LIST_SEPARATOR).split(LIST_SEPARATOR) if item]


def gpu_uuids(labels: Mapping[str, Any]) -> list[str]:
    """GPU/MIG UUIDs a container was given, as recorded in labels."""
    recorded = first(labels, GPU_UUIDS, *DS01_GPU_UUIDS)
    if recorded:
        return split_list(recorded)
    spec = labels.get(GPUS, "")
    if spec.startswith("device="):
        return [d for d in split_list(spec[len("device="):]) if d.startswith(("GPU-", "MIG-"))]
    return []


def image_has_user(labels: Mapping[str, Any], uid: int, gid: int) -> bool:
    """True when an image already carries the account for uid:gid (ds01's or DS01's build labels)."""
    if labels.get(USER_ID) == str(uid) and labels.get(GROUP_ID) == str(gid):
        return True
    return (labels.get(DS01_USER_SETUP) == "true" and labels.get(DS01_IMAGE_UID) == str(uid)
            and labels.get(DS01_IMAGE_GID) == str(gid))
