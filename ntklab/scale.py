"""Gram matrices block by block: in process, or on a Dask cluster, to memory or a zarr store.

:func:`kernel_matrix` cuts the inputs into blocks of ``block_size`` points and calls any kernel
function ``kernel_fn(x1_block, x2_block) -> (b1, b2)`` once per block pair.  With ``x2=None``
only the blocks on and above the diagonal are computed; the others are their transposes.

Three ways to run it:

* in process (``client=None``): a torch tensor, or a zarr array when ``out`` names a store;
* on a cluster (``client`` a :class:`dask.distributed.Client`): each block is a task on the
  workers; the inputs are scattered to every worker once, and a lost worker's blocks are
  recomputed by the scheduler.  The result is a dask array kept in the workers' memory, or, with
  ``out``, a zarr array written by the workers chunk by chunk, for matrices larger than memory.

Dask, distributed and zarr are the optional ``scale`` extra (``pip install ntklab[scale]``); they
are imported only when a client or a zarr ``out`` is given.  The zarr calls used here
(``zarr.open_array``, slicing, ``chunks``) are the ones zarr-python 2.18 and 3 share; the tests
run with zarr 3.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from .progress import progress as _progress
from .validation import as_tensor, check_positive_int

__all__ = ["kernel_matrix"]

_Block = tuple[int, int, int, int]  # rows r0:r1 and columns c0:c1 of the output


def _blocks(n1: int, n2: int, block_size: int, symmetric: bool) -> Iterator[_Block]:
    """The block pairs to compute, row-major; only ``c0 >= r0`` when ``symmetric``."""
    for r0 in range(0, n1, block_size):
        for c0 in range(r0 if symmetric else 0, n2, block_size):
            yield r0, min(r0 + block_size, n1), c0, min(c0 + block_size, n2)


def _kernel_block(
    kernel_fn: Callable, x1: torch.Tensor, x2: torch.Tensor, block: _Block, diagonal: bool
) -> torch.Tensor:
    """``kernel_fn`` on one block pair, its shape checked; a diagonal block made symmetric."""
    r0, r1, c0, c1 = block
    a, b = x1[r0:r1], x2[c0:c1]
    k = kernel_fn(a, b)
    if isinstance(k, np.ndarray):
        k = torch.from_numpy(k)
    if not isinstance(k, torch.Tensor):
        raise TypeError(
            f"kernel_fn must return a torch.Tensor or numpy array, got {type(k).__name__}"
        )
    if tuple(k.shape) != (r1 - r0, c1 - c0):
        raise ValueError(
            f"kernel_fn returned a block of shape {tuple(k.shape)} for inputs of shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}; expected {(r1 - r0, c1 - c0)}"
        )
    if diagonal:
        # (K + K^T) / 2 is exactly symmetric in floating point: a + b == b + a
        k = (k + k.T) / 2
    return k


def _numpy_block(kernel_fn, x1, x2, block, diagonal, dtype) -> np.ndarray:
    """A worker's task: one block as a numpy array of ``dtype`` (dask arrays hold numpy)."""
    k = _kernel_block(kernel_fn, x1, x2, block, diagonal)
    return k.detach().to(device="cpu", dtype=dtype).numpy()


def _write_block(kernel_fn, x1, x2, block, diagonal, mirror, dtype, out) -> _Block:
    """A worker's task: one block written into the zarr array ``out`` (and its mirror)."""
    k = _numpy_block(kernel_fn, x1, x2, block, diagonal, dtype)
    r0, r1, c0, c1 = block
    out[r0:r1, c0:c1] = k
    if mirror:
        out[c0:c1, r0:r1] = k.T
    return block


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    try:
        return torch.empty(0, dtype=dtype).numpy().dtype
    except TypeError as err:
        raise TypeError(
            f"kernel_fn returns {dtype}, which numpy (and so dask and zarr) cannot hold; "
            "cast the inputs or compute in process without out"
        ) from err


def _is_zarr_array(obj: Any) -> bool:
    # no zarr import just to test a torch tensor or a path
    return type(obj).__module__.split(".")[0] == "zarr" and hasattr(obj, "chunks")


def _in_memory_store(arr: Any) -> bool:
    # zarr 3 MemoryStore; zarr 2 MemoryStore or a KVStore over a dict
    return type(arr.store).__name__ in {"MemoryStore", "GpuMemoryStore", "KVStore", "dict"}


def _zarr_out(out: Any, shape: tuple[int, int], dtype: np.dtype, block_size: int, client: Any):
    """Open (create) the zarr array the blocks are written to; check a given one fits."""
    try:
        import zarr
    except ImportError as err:  # pragma: no cover - the scale extra installs it
        raise ImportError("out as a zarr store needs zarr: pip install 'ntklab[scale]'") from err
    if isinstance(out, (str, os.PathLike)):
        path = os.fspath(out)
        if "://" not in path and os.path.exists(path) and os.listdir(path):
            raise ValueError(
                f"out {path!r} already holds data; pass zarr.open_array({path!r}, mode='r+') "
                "to overwrite it, or a new path"
            )
        return zarr.open_array(
            store=path, mode="w", shape=shape, chunks=(block_size, block_size), dtype=dtype
        )
    if tuple(out.shape) != shape:
        raise ValueError(f"out must have shape {shape}, got {tuple(out.shape)}")
    if np.dtype(out.dtype) != dtype:
        raise TypeError(f"out has dtype {out.dtype} but kernel_fn returns {dtype}; cast explicitly")
    # writers of different blocks must never share a chunk (or a zarr 3 shard)
    unit = getattr(out, "shards", None) or out.chunks
    if any(block_size % c for c in unit):
        raise ValueError(
            f"out's chunks {tuple(unit)} must divide block_size={block_size}, so that no two "
            "blocks write the same chunk"
        )
    if client is not None and _in_memory_store(out):
        raise ValueError(
            "out is a zarr array in this process's memory, which the workers cannot write; "
            "pass a path or a store they all reach"
        )
    return out


def _check_inputs(x1: Any, x2: Any) -> tuple[torch.Tensor, torch.Tensor]:
    x1 = as_tensor(x1, "x1")
    if x1.dim() < 1 or x1.shape[0] < 1:
        raise ValueError(f"x1 must have shape (N1, ...) with N1 >= 1, got {tuple(x1.shape)}")
    if x2 is None:
        return x1, x1
    x2 = as_tensor(x2, "x2")
    if x2.dim() < 1 or x2.shape[0] < 1:
        raise ValueError(f"x2 must have shape (N2, ...) with N2 >= 1, got {tuple(x2.shape)}")
    if x2.shape[1:] != x1.shape[1:]:
        raise ValueError(
            f"x1 and x2 must have the same shape after the first dimension, got "
            f"{tuple(x1.shape)} and {tuple(x2.shape)}"
        )
    if x2.dtype != x1.dtype:
        raise TypeError(f"x1 has dtype {x1.dtype} but x2 has {x2.dtype}; cast explicitly")
    if x2.device != x1.device:
        raise ValueError(f"x1 is on {x1.device} but x2 is on {x2.device}")
    return x1, x2


def kernel_matrix(
    kernel_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x1: Any,
    x2: Any = None,
    *,
    block_size: int,
    client: Any = None,
    out: Any = None,
    progress: bool | None = None,
):
    r"""Gram matrix ``K[i, j] = kernel_fn(x1[i], x2[j])`` computed block by block.

    The rows of ``x1`` and of ``x2`` are cut into consecutive blocks of ``block_size`` points
    (the last may be shorter) and ``kernel_fn`` is called once per block pair, so the memory a
    call needs is set by ``block_size``, not by ``N1 N2``.  With ``x2=None`` (``x2 = x1``) only
    the blocks with column index >= row index are computed, each diagonal block is replaced by
    :math:`(B + B^\top)/2` and each other block is mirrored, so the result is exactly symmetric
    at about half the cost.  No normalization is added: the entries are what ``kernel_fn``
    returns.

    Parameters
    ----------
    kernel_fn : callable
        ``kernel_fn(x1_block, x2_block)`` with tensors of shapes ``(b1, ...)`` and ``(b2, ...)``
        returns the ``(b1, b2)`` block as a torch tensor (or numpy array), e.g.
        :func:`ntklab.regression.rbf_kernel` or a ``functools.partial`` of an ntklab kernel.
        With a client it must be picklable (cloudpickle: lambdas and closures are fine).
    x1 : torch.Tensor or numpy.ndarray, shape (N1, ...)
        Inputs of the rows.
    x2 : torch.Tensor or numpy.ndarray, shape (N2, ...), optional
        Inputs of the columns, same trailing shape and dtype as ``x1``; ``None`` means ``x1``.
    block_size : int
        Points per block along each axis, ``>= 1``.  A block is ``block_size**2`` entries.
    client : dask.distributed.Client, optional
        Run the blocks as tasks on this cluster.  ``x1`` and ``x2`` are scattered to every
        worker once (as CPU tensors) instead of being shipped with each task; a worker that
        dies mid-run has its blocks recomputed elsewhere.  ``None`` computes in process.
    out : torch.Tensor, str, os.PathLike or zarr.Array, optional
        Where the result goes.  In process a tensor of shape ``(N1, N2)`` and the result's
        dtype and device is filled (``None``: a new one).  A path creates a zarr array with
        chunks ``(block_size, block_size)`` there (it must not hold data yet); a zarr array of
        shape ``(N1, N2)`` whose chunks divide ``block_size`` is overwritten.  With a client,
        ``out=None`` keeps the blocks in the workers' memory, and a zarr ``out`` must be a store
        the workers reach (a shared file system or object store), which they write directly.
    progress : bool, optional
        Show a bar over the blocks (default: only when standard error is a terminal; see
        :mod:`ntklab.progress`).

    Returns
    -------
    torch.Tensor, dask.array.Array or zarr.Array, shape (N1, N2)
        In process without a zarr ``out``: a tensor on ``x1``'s device.  With a client and no
        ``out``: a dask array with chunks of ``block_size`` whose computed blocks live on the
        workers (``.compute()`` gathers a numpy array); the blocks below the diagonal are lazy
        transposes.  With a zarr ``out``: that zarr array, complete.  The dtype is that of
        ``kernel_fn``'s blocks (the inputs' dtype for ntklab's kernels; numpy inputs are float64).

    Raises
    ------
    TypeError
        If ``kernel_fn`` is not callable or returns neither a tensor nor an array, ``x1`` and
        ``x2`` have different dtypes, ``block_size`` is not an integer, ``client`` is not a
        ``dask.distributed.Client``, ``out`` is of another kind or dtype, or (with a client or
        zarr) the result's dtype is one numpy cannot hold.
    ValueError
        If ``block_size < 1``, an input is empty or holds NaN/inf, the trailing shapes of ``x1``
        and ``x2`` differ, ``kernel_fn`` returns a block of the wrong shape (the message names
        the shapes), ``out`` has the wrong shape or device, its chunks do not divide
        ``block_size``, its path already holds data, or it is an in-memory zarr array while a
        client is given.

    Examples
    --------
    >>> import torch
    >>> from ntklab.regression import rbf_kernel
    >>> from ntklab.scale import kernel_matrix
    >>> x = torch.linspace(0, 1, 7, dtype=torch.float64).unsqueeze(1)
    >>> k = kernel_matrix(rbf_kernel, x, block_size=3)
    >>> k.shape, bool(torch.equal(k, k.T))
    (torch.Size([7, 7]), True)
    >>> round(float(k[0, 6]), 6)  # exp(-1)
    0.367879
    >>> bool(torch.allclose(k, rbf_kernel(x)))
    True
    """
    # --- arguments, before any work ------------------------------------------------------
    if not callable(kernel_fn):
        raise TypeError(f"kernel_fn must be callable, got {type(kernel_fn).__name__}")
    block_size = check_positive_int(block_size, "block_size")
    symmetric = x2 is None
    x1, x2 = _check_inputs(x1, x2)
    if client is not None:
        try:
            from distributed import Client
        except ImportError as err:  # pragma: no cover - a client implies distributed
            raise ImportError("client needs distributed: pip install 'ntklab[scale]'") from err
        if not isinstance(client, Client):
            raise TypeError(
                f"client must be a dask.distributed.Client or None, got {type(client).__name__}"
            )
    to_zarr = isinstance(out, (str, os.PathLike)) or _is_zarr_array(out)
    if out is not None and not to_zarr and not isinstance(out, torch.Tensor):
        raise TypeError(
            f"out must be a torch.Tensor, a path or a zarr array, got {type(out).__name__}"
        )
    if client is not None and isinstance(out, torch.Tensor):
        raise TypeError(
            "out cannot be a torch.Tensor with a client; pass a zarr path the workers reach, "
            "or None for a dask array"
        )
    # a tiny rectangular probe (2 x 1, so a transposed block shows) gives the dtype the stores
    # need and catches a wrong kernel_fn before anything is scattered or created
    probe = _kernel_block(kernel_fn, x1, x2, (0, min(2, x1.shape[0]), 0, 1), diagonal=False)
    dtype = probe.dtype
    shape = (x1.shape[0], x2.shape[0])
    if to_zarr:
        out = _zarr_out(out, shape, _numpy_dtype(dtype), block_size, client)
    elif isinstance(out, torch.Tensor):
        if tuple(out.shape) != shape:
            raise ValueError(f"out must have shape {shape}, got {tuple(out.shape)}")
        if out.dtype != dtype:
            raise TypeError(f"out has dtype {out.dtype} but kernel_fn returns {dtype}")
        if out.device != probe.device:
            raise ValueError(f"out is on {out.device} but kernel_fn returns {probe.device}")
    blocks = list(_blocks(*shape, block_size, symmetric))

    if client is None:
        return _in_process(kernel_fn, x1, x2, blocks, symmetric, dtype, probe.device, out, progress)
    return _on_cluster(
        kernel_fn, x1, x2, blocks, block_size, symmetric, dtype, shape, client, out, progress
    )


def _in_process(kernel_fn, x1, x2, blocks, symmetric, dtype, device, out, progress):
    if out is None:
        out = torch.empty(x1.shape[0], x2.shape[0], dtype=dtype, device=device)
    to_zarr = not isinstance(out, torch.Tensor)
    for block in _progress(blocks, enabled=progress, desc="kernel blocks", total=len(blocks)):
        r0, r1, c0, c1 = block
        diagonal, mirror = symmetric and r0 == c0, symmetric and r0 != c0
        if to_zarr:
            _write_block(kernel_fn, x1, x2, block, diagonal, mirror, dtype, out)
            continue
        k = _kernel_block(kernel_fn, x1, x2, block, diagonal)
        out[r0:r1, c0:c1] = k
        if mirror:
            out[c0:c1, r0:r1] = k.T
    return out


def _on_cluster(
    kernel_fn, x1, x2, blocks, block_size, symmetric, dtype, shape, client, out, progress
):
    import dask.array as da
    from distributed import as_completed

    np_dtype = _numpy_dtype(dtype)
    # one copy per worker, shipped once: a copy on every worker also survives the loss of any
    # one of them (scattered data has no recipe the scheduler could recompute it from)
    x1 = x1.detach().cpu()
    x1_f = client.scatter(x1, broadcast=True, hash=False)
    x2_f = x1_f if symmetric else client.scatter(x2.detach().cpu(), broadcast=True, hash=False)
    futures = {}
    for block in blocks:
        diagonal = symmetric and block[0] == block[2]
        if out is None:
            futures[block] = client.submit(
                _numpy_block, kernel_fn, x1_f, x2_f, block, diagonal, dtype, pure=False
            )
        else:
            mirror = symmetric and not diagonal
            futures[block] = client.submit(
                _write_block, kernel_fn, x1_f, x2_f, block, diagonal, mirror, dtype, out, pure=False
            )
    try:
        done = as_completed(futures.values(), raise_errors=False)
        for future in _progress(done, enabled=progress, desc="kernel blocks", total=len(blocks)):
            if future.status == "error":
                future.result()  # re-raises the worker's exception (e.g. a wrong block shape)
    except BaseException:
        client.cancel(list(futures.values()))
        raise
    if out is not None:
        return out

    def piece(r0, r1, c0, c1):
        if (r0, r1, c0, c1) in futures:
            return da.from_delayed(futures[r0, r1, c0, c1], (r1 - r0, c1 - c0), dtype=np_dtype)
        return piece(c0, c1, r0, r1).T  # below the diagonal: a lazy transpose

    rows = [(s, min(s + block_size, shape[0])) for s in range(0, shape[0], block_size)]
    cols = [(s, min(s + block_size, shape[1])) for s in range(0, shape[1], block_size)]
    return da.block([[piece(r0, r1, c0, c1) for c0, c1 in cols] for r0, r1 in rows])
