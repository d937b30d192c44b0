import glob
import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    with open(os.path.join(HERE, "ds01", "__init__.py"), encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("__version__"):
                return line.split("=")[1].strip().strip('"')
    raise RuntimeError("no version")


setup(
    name="ds01",
    version=read_version(),
    description="Shared multi-user GPU server toolkit on Docker, compatible with AIME MLC",
    python_requires=">=3.10",
    packages=find_packages(include=["ds01", "ds01.*"]),
    # container-sudo: mounted as `sudo` in containers without it; BUILD: the commit and tree make install records;
    # client.c: the C client the installed scripts start (ds01/generate/bins.py builds it)
    package_data={"ds01.images": ["container-sudo"], "ds01": ["BUILD", "client.c"]},
    scripts=sorted(glob.glob("bin/*")) + sorted(glob.glob("libexec/ds01/*")),
    install_requires=[
        "click>=8.1",
        "docker>=7.0",
        "PyYAML>=6.0",
        "nvidia-ml-py>=12.535",
        "portalocker>=2.8,<3",  # 3.x reads its version through importlib.metadata: +30 ms per command
        "packaging>=23",
        "prometheus-client>=0.17",  # ds01-exporter: the exposition format and its HTTP server
        "rich>=13",
        "tomli>=2; python_version < '3.11'",  # project-init's pyproject.toml on 3.10 (tomllib from 3.11 on)  # dashboard and the --watch views: drawing in place on the alternate screen
    ],
    # ruff and mypy are the lint gate `make test` runs; pinned so a new release cannot turn CI red.
    extras_require={"test": ["pytest>=8", "pexpect>=4.9", "bats-core>=1.11",
                             "ruff==0.17.6", "mypy==2.4.1", "types-PyYAML==6.0.12.20261122"]},
)
