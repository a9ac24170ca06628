"""Shared fixtures: devices (CUDA where present), float64 by default."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("NTKLAB_PROGRESS", "0")  # progress bars stay silent in tests

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason="CUDA is not available on this machine"
        ),
    ),
]


@pytest.fixture(params=DEVICES)
def device(request):
    """Every device this machine has: the CPU always, CUDA when present (skipped otherwise)."""
    return torch.device(request.param)


@pytest.fixture
def cuda():
    """The CUDA device, or a clean skip."""
    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available on this machine")
    return torch.device("cuda")
