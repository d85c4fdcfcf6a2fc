"""Libraries of GPU stacks: what a package's own import loads first, a machine without an
NVIDIA driver, a CUDA build without its ``nvidia-*`` wheels (issue 12)."""

from __future__ import annotations

from artefacts import Venv, run


def test_cuda_torch_environment_is_whole(cuda_torch: Venv) -> None:
    """The shared environment is what a user gets: torch's CUDA 13 build, torchvision beside
    it, both import (on the CPU: this machine has no driver)."""
    script = (
        "import torch, torchvision; "
        "print(torch.__version__, torch.version.cuda, torchvision.__version__, "
        "torch.cuda.is_available())"
    )
    out = run([str(cuda_torch.python), "-c", script]).stdout.split()
    assert out[:3] == ["2.14.1+cu130", "13.0", "0.29.1+cu130"], out
