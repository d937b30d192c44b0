"""Projects: directories ~/workspace/NAME with a `[tool.ds01]` table in pyproject.toml.

The table records the project's type, image and creation time; project-launch and
container-deploy --project read the image from it.
"""

import json
import os

from . import names
from .errors import UsageError

TYPES = ("ml", "cv", "nlp", "rl", "audio", "ts", "llm", "custom")
LAYOUT = ("data", "notebooks", "src", "models")
GITIGNORE = """\
# Python
__pycache__/
*.py[cod]
.venv/
.ipynb_checkpoints/
# Data and models stay out of git (large; keep them in data/ and models/)
data/*
!data/.gitkeep
models/*
!models/.gitkeep
*.pt
*.pth
*.ckpt
*.safetensors
*.h5
*.onnx
# Caches and logs written by the container
.cache/
wandb/
mlruns/
lightning_logs/
*.log
# ds01
.keep-alive
.ds01-alerts
Dockerfile.build.log
Dockerfile.bak
"""


def validate_name(name):
    return names.validate(name).lower()  # also an image name (ds01-<uid>/NAME), and those are lower-case


def directory(user, name):
    return os.path.join(user.home, "workspace", name)


def image_reference(user, name):
    from .images import reference  # lazy: ds01.images, 1 ms

    return reference(user.uid, name)


def metadata(path):
    """The `[tool.ds01]` table of the project at `path` ({} when there is none or it cannot be read)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI
        import tomli as tomllib  # type: ignore[no-redef]

    try:
        with open(os.path.join(path, "pyproject.toml"), "rb") as handle:
            return (tomllib.load(handle).get("tool") or {}).get("ds01") or {}
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def image_of(user, name):
    """The project's image: its `[tool.ds01] image`, else ds01-<uid>/NAME:latest."""
    image = metadata(directory(user, name)).get("image")
    return image if isinstance(image, str) and image else image_reference(user, name)


def listing(user):
    """The caller's projects: directories in ~/workspace, ds01 projects first, then by name."""
    root = os.path.join(user.home, "workspace")
    try:
        entries = sorted(e for e in os.listdir(root) if not e.startswith("."))
    except OSError:
        return []
    result = []
    for entry in entries:
        path = os.path.join(root, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            meta = metadata(path)
            result.append({"name": entry, "path": path, "type": meta.get("type"), "image": meta.get("image"),
                           "ds01": bool(meta)})
    return sorted(result, key=lambda r: (not r["ds01"], r["name"]))


def toml_string(text):
    """A TOML basic string (JSON's escaping is valid TOML for these)."""
    return json.dumps(str(text), ensure_ascii=False)


def pyproject(name, description, kind, image, created, author):
    return (f"[project]\nname = {toml_string(name)}\nversion = \"0.1.0\"\n"
            f"description = {toml_string(description)}\nrequires-python = \">=3.10\"\n\n"
            f"[tool.ds01]\ntype = {toml_string(kind)}\nimage = {toml_string(image)}\n"
            f"created = {toml_string(created)}\nauthor = {toml_string(author)}\n")


def requirements(kind, data_science=True):
    """requirements.txt for a project type: the data-science set (unless not asked for) plus the type's packages."""
    from .images import packages as P  # lazy: ds01.images.packages, 2 ms

    if kind not in TYPES:
        raise UsageError(f"unknown project type {kind!r}", hint="choose from: " + ", ".join(TYPES))
    lines = [f"# Python packages for this {P.USE_CASE_HELP[kind]} project. project-launch --rebuild",
             "# (or image-update NAME -r requirements.txt) installs changes into the image."]
    return "\n".join(lines + list(P.DATA_SCIENCE if data_science else ()) + list(P.USE_CASES[kind])) + "\n"


def readme(name, description, kind, image):
    from .images import packages as P  # lazy: ds01.images.packages, 2 ms

    return f"""# {name}

{description or 'A ' + P.USE_CASE_HELP[kind] + ' project.'}

## Layout

- `data/` datasets (not in git)
- `notebooks/` Jupyter notebooks
- `src/` code
- `models/` checkpoints and weights (not in git)

## Working on the GPU server

    project-launch {name}                 # build the image ({image}) if needed, start a container, open a shell
    container-run {name} -- python3 src/train.py
    container-retire {name}               # stop, remove, free the GPU (files here stay)

Inside the container this directory is `/workspace`.
"""
