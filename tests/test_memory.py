"""Output buffers on transparent huge pages (ntklab/_memory.py)."""

import pytest
import torch

from ntklab import _memory


def _vm_flags(address: int) -> list[str]:
    """The VmFlags of the mapping of this process that holds ``address`` (Linux)."""
    inside, flags = False, None
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(v, 16) for v in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "VmFlags:":
                flags = line.split()[1:]
    assert flags is not None, "no mapping holds the buffer"
    return flags


def test_small_buffers_are_plain_tensors():
    t = _memory.empty((3, 4), dtype=torch.float32, device=torch.device("cpu"))
    assert t.shape == (3, 4)
    assert t.dtype == torch.float32
    assert t.is_contiguous()
    assert t._base is None


def test_large_buffers_are_aligned_advised_and_usable():
    shape = (700, 600)  # 3.4 MB of float64
    t = _memory.empty(shape, dtype=torch.float64, device=torch.device("cpu"))
    assert t.shape == shape
    assert t.dtype == torch.float64
    assert t.is_contiguous()
    t.copy_(torch.arange(t.numel(), dtype=torch.float64).view(shape))
    assert float(t[-1, -1]) == t.numel() - 1
    if _memory._madvise() is None:
        pytest.skip("no transparent huge pages on this system")
    assert t.data_ptr() % _memory.HUGE_PAGE == 0
    assert "hg" in _vm_flags(t.data_ptr())  # MADV_HUGEPAGE took effect on the mapping


def test_huge_pages_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("NTKLAB_HUGE_PAGES", "0")
    _memory._madvise.cache_clear()
    try:
        t = _memory.empty((700, 600), dtype=torch.float64, device=torch.device("cpu"))
        assert t._base is None  # a plain torch.empty
    finally:
        monkeypatch.delenv("NTKLAB_HUGE_PAGES")
        _memory._madvise.cache_clear()
