"""Large CPU output buffers backed by transparent huge pages.

A fresh Gram matrix is written once, page by page, and with 4 KiB pages the first write to
every page is a page fault: for the two 4,000 x 4,000 float64 outputs of ``mlp_kernels``
(128 MB each) filling fresh memory took 64 ms per matrix on this project's machine, against
9.5 ms for memory already mapped, as much as the whole compiled kernel recursion.  Where Linux
offers transparent huge pages (``/sys/kernel/mm/transparent_hugepage/enabled`` set to
``madvise`` or ``always``), :func:`empty` aligns a large buffer to 2 MiB and advises it with
``MADV_HUGEPAGE``: 512 times fewer faults (13 ms for the same fill) and fewer TLB misses
afterwards.  Elsewhere, for small buffers and off the CPU, it is ``torch.empty``.  (PyTorch's
switch for all of its allocations, the environment variable ``THP_MEM_ALLOC_ENABLE=1``, is
read once when the process starts, so a library cannot turn it on.)

The gain needs huge pages that the machine has already backed with memory.  In a virtual
machine that hands free memory back to its host (free page reporting, as on this project's
Firecracker VM), a fresh 2 MiB page is backed again on first touch: buffers that are freed and
reallocated call after call gain (``K(x, x)`` of 4,000 points at depth 3: 0.14-0.16 s against
0.22-0.23 s), but results kept alive, each in fresh memory, lost (5,000 points, depth 4, five
results kept: 0.44-1.03 s against 0.40-0.47 s).  ``NTKLAB_HUGE_PAGES=0`` in the environment
turns the advice off.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

import torch

HUGE_PAGE = 2 << 20  # bytes in a transparent huge page on x86-64 and arm64 Linux
_MADV_HUGEPAGE = 14
_THP_SETTING = "/sys/kernel/mm/transparent_hugepage/enabled"


@functools.cache
def _madvise():
    """libc's ``madvise`` where transparent huge pages can be asked for (and are not turned
    off by ``NTKLAB_HUGE_PAGES=0``), else None."""
    if not sys.platform.startswith("linux") or os.environ.get("NTKLAB_HUGE_PAGES") == "0":
        return None
    try:
        with open(_THP_SETTING) as f:
            if "[never]" in f.read():
                return None
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def empty(shape: tuple[int, ...], *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An uninitialised contiguous tensor like ``torch.empty(shape)``; on a Linux CPU and from
    2 MiB up, its memory is 2 MiB aligned and advised to be backed by huge pages.

    The result is then a view into a slightly larger byte buffer (up to 2 MiB more).
    """
    numel = 1
    for n in shape:
        numel *= n
    nbytes = numel * torch.empty((), dtype=dtype).element_size()
    madvise = _madvise()
    if torch.device(device).type != "cpu" or nbytes < HUGE_PAGE or madvise is None:
        return torch.empty(shape, dtype=dtype, device=device)
    raw = torch.empty(nbytes + HUGE_PAGE, dtype=torch.uint8)
    skip = -raw.data_ptr() % HUGE_PAGE
    # only whole huge pages are advised; a failure leaves ordinary pages (still correct)
    madvise(raw.data_ptr() + skip, nbytes - nbytes % HUGE_PAGE, _MADV_HUGEPAGE)
    return raw[skip : skip + nbytes].view(dtype).view(shape)
