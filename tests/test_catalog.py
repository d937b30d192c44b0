"""The AIME image catalog: parsing (the real AIME file, both formats), resolution, architecture choice."""

import os
from pathlib import Path

import pytest

from ds01.errors import NotFound, UsageError
from ds01.gpu.model import Gpu, Inventory
from ds01.images import catalog
from ds01.schema import PolicyError


def _aime_catalog():
    """AIME's own catalog (not committed here): $DS01_AIME_CATALOG, else ../shared/reference beside a parent
    of this checkout, else the workplace's /work/shared."""
    relative = Path("shared", "reference", "aime", "ml_images.repo")
    candidates = [Path(os.environ["DS01_AIME_CATALOG"])] if os.environ.get("DS01_AIME_CATALOG") else []
    candidates += [parent / relative for parent in Path(__file__).resolve().parents]
    candidates.append(Path("/work") / relative)
    return next((c for c in candidates if c.is_file()), candidates[-1])


AIME_CATALOG = _aime_catalog()


@pytest.fixture(scope="module")
def aime():
    if not AIME_CATALOG.exists():
        pytest.fail(f"the AIME catalog is expected at {AIME_CATALOG}")
    return catalog.Catalog(catalog.parse(AIME_CATALOG.read_text(), str(AIME_CATALOG)), str(AIME_CATALOG))


def test_the_real_aime_catalog_has_117_entries_and_bracket_lists_expand(aime):
    assert len(aime.entries) == 117
    tf214 = [e for e in aime.entries if e.framework == "Tensorflow" and e.version == "2.14.0"]
    assert tf214[0].archs == ("CUDA_ADA", "CUDA_AMPERE")
    per_arch = {arch: len(aime.for_arch(arch)) for arch in aime.archs()}
    # Framework/version pairs per arch (AIME's table): the duplicate Tensorflow 1.15.4-nvidia line counts once.
    assert per_arch == {"CUDA_BLACKWELL": 7, "CUDA_ADA": 36, "CUDA_AMPERE": 50, "ROCM6": 6, "CUDA": 22, "ROCM5": 7}
    assert sum("CUDA_AMPERE" in e.archs for e in aime.entries) == 51


def test_pytorch_271_on_ada_is_the_cuda_12_6_3_image_in_any_case(aime):
    for spelling in ("Pytorch", "pytorch", "PYTORCH"):
        entry = aime.resolve(spelling, "2.7.1", "CUDA_ADA")
        assert entry.image == "aimehub/pytorch-2.7.1-cuda12.6.3"
        assert entry.label == "Pytorch-2.7.1"


def test_latest_is_the_first_listed_for_the_arch_and_versions_match_exactly(aime):
    assert aime.resolve("pytorch", None, "CUDA_ADA").version == "2.8.0-aime"
    assert aime.resolve("pytorch", "latest", "CUDA_AMPERE").version == "2.7.1-aime"
    with pytest.raises(NotFound) as info:
        aime.resolve("pytorch", "2.7", "CUDA_ADA")
    assert "2.7.1" in info.value.hint
    with pytest.raises(NotFound) as info:
        aime.resolve("pytorch", "2.9.1", "CUDA_AMPERE")
    assert "CUDA_BLACKWELL" in info.value.hint
    with pytest.raises(NotFound):
        aime.resolve("caffe", None, "CUDA_ADA")


def test_frameworks_are_listed_sorted_per_arch(aime):
    assert aime.frameworks("CUDA_AMPERE") == ["Mxnet", "Pytorch", "Tensorflow"]
    assert aime.frameworks("CUDA_BLACKWELL") == ["Pytorch"]


def test_v1_lines_blank_lines_and_a_fifth_field_are_accepted():
    text = "Pytorch, 2.3.0, CUDA_ADA, aimehub/pytorch-2.3.0-cuda12.1\n\n  \nTensorflow, 2.1, [CUDA], img, extra\n"
    entries = catalog.parse(text, "x.repo")
    assert [(e.framework, e.archs, e.image, e.line) for e in entries] == [
        ("Pytorch", ("CUDA_ADA",), "aimehub/pytorch-2.3.0-cuda12.1", 1), ("Tensorflow", ("CUDA",), "img", 4)]


@pytest.mark.parametrize("line", ["Pytorch, 2.3.0, [CUDA_ADA]", "Pytorch, 2.3.0", ", 1.0, [A], img", "P, 1, [], img"])
def test_a_malformed_line_is_an_error_naming_file_and_line(line):
    with pytest.raises(PolicyError) as info:
        catalog.parse("Pytorch, 2.7.1, [CUDA_ADA], img\n" + line + "\n", "/etc/ml_images.repo")
    assert info.value.message.startswith("/etc/ml_images.repo:2:")


def test_without_aime_the_built_in_catalog_still_resolves_pytorch(monkeypatch):
    monkeypatch.setattr(catalog, "AIME_CATALOG", "/nonexistent/ml_images.repo")
    cat = catalog.load(None)
    assert cat.source == "built-in"
    for arch in ("CUDA_AMPERE", "CUDA_ADA", "CUDA_BLACKWELL"):
        assert cat.resolve("pytorch", None, arch).image.startswith("aimehub/pytorch-")
    assert cat.resolve("tensorflow", None, "CUDA_AMPERE").image == "aimehub/tensorflow-2.14.0-cuda11.8"


def _gpus(*capabilities, cuda=None):
    return Inventory(gpus=[Gpu(index=i, uuid=f"GPU-{i}", name="x", memory_total=1, compute_capability=c)
                           for i, c in enumerate(capabilities)], source="test", cuda_version=cuda)


@pytest.mark.parametrize("capability, arch", [("8.0", "CUDA_AMPERE"), ("8.6", "CUDA_AMPERE"), ("8.9", "CUDA_ADA"),
                                              ("9.0", "CUDA_ADA"), ("10.0", "CUDA_BLACKWELL"),
                                              ("12.0", "CUDA_BLACKWELL"), ("7.5", "CUDA")])
def test_compute_capability_picks_the_arch(capability, arch):
    assert catalog.detect_arch(_gpus(capability)) == (arch, "compute capability")


@pytest.mark.parametrize("cuda, arch", [("11.8", "CUDA_AMPERE"), ("12.0", "CUDA_ADA"), ("12.4", "CUDA_ADA"),
                                        ("12.7", "CUDA_ADA"), ("12.8", "CUDA_BLACKWELL"), ("12.10", "CUDA_BLACKWELL"),
                                        ("13.0", "CUDA_BLACKWELL")])
def test_without_gpus_the_drivers_cuda_version_picks_the_arch(cuda, arch):
    assert catalog.detect_arch(_gpus(cuda=cuda))[0] == arch


def test_a_mixed_host_gets_the_arch_every_gpu_can_run():
    assert catalog.detect_arch(_gpus("9.0", "8.0"))[0] == "CUDA_AMPERE"


def test_arch_precedence_flag_then_env_then_detection_then_policy_then_default(aime):
    detected = lambda: _gpus("8.0")  # noqa: E731
    nothing = lambda: _gpus()  # noqa: E731
    assert catalog.choose_arch(aime, "CUDA", None, detected, "CUDA_BLACKWELL") == ("CUDA", "--arch")
    assert catalog.choose_arch(aime, None, None, detected, "CUDA_BLACKWELL") == ("CUDA_BLACKWELL", "MLC_ARCH")
    assert catalog.choose_arch(aime, None, None, detected)[0] == "CUDA_AMPERE"
    assert catalog.choose_arch(aime, None, None, nothing) == ("CUDA_ADA", "default")
    with pytest.raises(UsageError) as info:
        catalog.choose_arch(aime, "CUDA_HOPPER", None, detected)
    assert "CUDA_ADA" in info.value.hint
