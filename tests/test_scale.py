"""ntklab.scale.kernel_matrix: block by block in process, on a local Dask cluster, to zarr.

The reference is always ``kernel_fn`` on the whole inputs at once (no blocks), or, for the
cluster, the in-process result, which must come back bit for bit.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

pytest.importorskip("dask")
pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

from distributed import Client, LocalCluster, get_worker  # noqa: E402

from ntklab.regression import rbf_kernel  # noqa: E402
from ntklab.scale import kernel_matrix  # noqa: E402


def _inputs(n1=23, n2=17, d=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n1, d, generator=g).to(dtype), torch.randn(n2, d, generator=g).to(dtype)


def _cosine(x1, x2):
    """A plain torch kernel, not symmetric in its code path (a matrix product)."""
    return torch.tanh(x1 @ x2.T / x1.shape[1]) + 0.5


# --------------------------------------------------------------------------------------------
# in process
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("block_size", [1, 4, 5, 23, 100])  # 5 does not divide 23 or 17
@pytest.mark.parametrize("kernel_fn", [rbf_kernel, _cosine])
def test_in_process_equals_whole(kernel_fn, block_size):
    x1, x2 = _inputs()
    k = kernel_matrix(kernel_fn, x1, x2, block_size=block_size)
    assert k.shape == (23, 17)
    assert k.dtype == torch.float64
    torch.testing.assert_close(k, kernel_fn(x1, x2), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("block_size", [3, 4, 7])  # 3, 7 do not divide 24
@pytest.mark.parametrize("kernel_fn", [rbf_kernel, _cosine])
def test_symmetric_is_exactly_symmetric(kernel_fn, block_size):
    x, _ = _inputs(n1=24)
    k = kernel_matrix(kernel_fn, x, block_size=block_size)
    assert torch.equal(k, k.T)
    torch.testing.assert_close(k, kernel_fn(x, x), rtol=1e-13, atol=1e-14)


def test_symmetric_calls_only_upper_blocks():
    x, _ = _inputs(n1=10)
    calls = []

    def counting(a, b):
        calls.append((a.shape[0], b.shape[0]))
        return rbf_kernel(a, b)

    kernel_matrix(counting, x, block_size=4)  # 3 x 3 blocks: 6 on or above the diagonal
    assert len(calls) == 1 + 6  # the 2 x 1 probe, then the blocks


def test_dtype_kept_and_numpy_accepted():
    x1, x2 = _inputs(dtype=torch.float32)
    k = kernel_matrix(rbf_kernel, x1, x2, block_size=6)
    assert k.dtype == torch.float32
    torch.testing.assert_close(k, rbf_kernel(x1, x2))
    k64 = kernel_matrix(rbf_kernel, x1.double().numpy(), block_size=6)
    assert k64.dtype == torch.float64
    torch.testing.assert_close(k64, rbf_kernel(x1.double()), rtol=1e-13, atol=1e-14)


def test_trailing_dimensions_and_out_tensor():
    g = torch.Generator().manual_seed(1)
    x1, x2 = torch.randn(9, 2, 3, generator=g), torch.randn(5, 2, 3, generator=g)

    def flat(a, b):
        return rbf_kernel(a.flatten(1), b.flatten(1))

    out = torch.full((9, 5), float("nan"))
    k = kernel_matrix(flat, x1, x2, block_size=4, out=out)
    assert k is out
    torch.testing.assert_close(k, flat(x1, x2))


def test_in_process_to_zarr(tmp_path):
    x1, x2 = _inputs()
    z = kernel_matrix(rbf_kernel, x1, x2, block_size=5, out=tmp_path / "k.zarr")
    assert z.shape == (23, 17)
    assert z.chunks == (5, 5)
    np.testing.assert_array_equal(z[:], kernel_matrix(rbf_kernel, x1, x2, block_size=5).numpy())


def test_cuda_in_process_and_to_zarr(cuda, tmp_path):
    x1, x2 = _inputs()
    expected = kernel_matrix(_cosine, x1, x2, block_size=5)
    k = kernel_matrix(_cosine, x1.to(cuda), x2.to(cuda), block_size=5)
    assert k.device.type == "cuda"
    torch.testing.assert_close(k.cpu(), expected, rtol=1e-12, atol=1e-13)
    z = kernel_matrix(_cosine, x1.to(cuda), block_size=5, out=tmp_path / "k.zarr")
    np.testing.assert_allclose(z[:], kernel_matrix(_cosine, x1, block_size=5).numpy(), rtol=1e-12)


def test_progress_bar_counts_blocks(capsys):
    x, _ = _inputs(n1=8)
    kernel_matrix(rbf_kernel, x, block_size=4, progress=True)
    assert "0/3" in capsys.readouterr().err  # 2 x 2 blocks, 3 on or above the diagonal


# --------------------------------------------------------------------------------------------
# bad input, refused before any block is computed
# --------------------------------------------------------------------------------------------
def test_bad_input(tmp_path):
    x1, x2 = _inputs()
    with pytest.raises(TypeError, match="kernel_fn must be callable"):
        kernel_matrix("rbf", x1, block_size=4)
    with pytest.raises(ValueError, match="block_size"):
        kernel_matrix(rbf_kernel, x1, block_size=0)
    with pytest.raises(TypeError, match="block_size"):
        kernel_matrix(rbf_kernel, x1, block_size=2.5)
    bad = x1.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="x1 contains NaN"):
        kernel_matrix(rbf_kernel, bad, block_size=4)
    with pytest.raises(ValueError, match="x2 contains NaN"):
        kernel_matrix(rbf_kernel, x1, bad, block_size=4)
    with pytest.raises(ValueError, match="same shape after the first dimension"):
        kernel_matrix(rbf_kernel, x1, torch.randn(4, 2, dtype=torch.float64), block_size=4)
    with pytest.raises(TypeError, match=r"x1 has dtype torch\.float64 but x2 has torch\.float32"):
        kernel_matrix(rbf_kernel, x1, x2.float(), block_size=4)
    with pytest.raises(ValueError, match="x1 must have shape"):
        kernel_matrix(rbf_kernel, torch.zeros(0, 3), block_size=4)
    with pytest.raises(TypeError, match="client must be"):
        kernel_matrix(rbf_kernel, x1, block_size=4, client="tcp://scheduler:8786")
    with pytest.raises(TypeError, match="out must be"):
        kernel_matrix(rbf_kernel, x1, block_size=4, out=np.zeros((23, 23)))
    with pytest.raises(ValueError, match="out must have shape"):
        kernel_matrix(rbf_kernel, x1, x2, block_size=4, out=torch.zeros(17, 23, dtype=x1.dtype))
    with pytest.raises(TypeError, match="out has dtype"):
        kernel_matrix(rbf_kernel, x1, x2, block_size=4, out=torch.zeros(23, 17))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("data")
    with pytest.raises(ValueError, match="already holds data"):
        kernel_matrix(rbf_kernel, x1, block_size=4, out=tmp_path / "full")
    z = zarr.open_array(tmp_path / "z", mode="w", shape=(23, 23), chunks=(3, 3), dtype="f8")
    with pytest.raises(ValueError, match="chunks"):
        kernel_matrix(rbf_kernel, x1, block_size=4, out=z)


@pytest.mark.parametrize(
    ("kernel_fn", "message"),
    [
        (lambda a, b: rbf_kernel(b, a), r"shape \(1, 2\) for inputs of shapes \(2, 3\) and"),
        (lambda a, b: rbf_kernel(a, b).sum(1), r"shape \(2,\)"),
        (lambda a, b: rbf_kernel(a, a), r"shape \(2, 2\).*expected \(2, 1\)"),
    ],
)
def test_wrong_block_shape_names_kernel_fn(kernel_fn, message):
    x1, x2 = _inputs()
    with pytest.raises(ValueError, match="kernel_fn returned a block of " + message):
        kernel_matrix(kernel_fn, x1, x2, block_size=4)


def _wrong_on_last_rows(a, b):
    """Right on the 2 x 1 probe and most blocks, transposed on the last 3 rows of 23."""
    return rbf_kernel(b, a) if a.shape[0] == 3 else rbf_kernel(a, b)


def test_wrong_shape_only_on_a_later_block():
    x1, x2 = _inputs()
    with pytest.raises(ValueError, match=r"kernel_fn returned a block of shape \(4, 3\)"):
        kernel_matrix(_wrong_on_last_rows, x1, x2, block_size=4)


def test_kernel_fn_returning_a_list():
    x1, _ = _inputs()
    with pytest.raises(TypeError, match=r"kernel_fn must return a torch\.Tensor"):
        kernel_matrix(lambda a, b: rbf_kernel(a, b).tolist(), x1, block_size=4)


# --------------------------------------------------------------------------------------------
# on a local cluster of two worker processes
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.mark.parametrize(("n2", "block_size"), [(None, 8), (None, 7), (17, 5)])
def test_cluster_dask_array_equals_in_process(client, n2, block_size):
    import dask.array as da

    x1, x2 = _inputs(n1=30, n2=n2 or 1)
    x2 = None if n2 is None else x2
    k = kernel_matrix(rbf_kernel, x1, x2, block_size=block_size, client=client)
    assert isinstance(k, da.Array)
    assert k.chunksize == (block_size, block_size)
    expected = kernel_matrix(rbf_kernel, x1, x2, block_size=block_size).numpy()
    np.testing.assert_array_equal(k.compute(), expected)  # bit for bit
    assert k.dtype == np.float64


def _largest_task_spec(dask_scheduler):
    import pickle

    specs = [ts.run_spec for ts in dask_scheduler.tasks.values() if ts.run_spec is not None]
    return len(specs), max(len(pickle.dumps(spec)) for spec in specs)


def test_cluster_inputs_are_not_shipped_with_tasks(client):
    x = torch.randn(2000, 16, dtype=torch.float64)  # 256 kB
    k = kernel_matrix(rbf_kernel, x, block_size=500, client=client)  # holds 10 block futures
    n_tasks, largest = client.run_on_scheduler(_largest_task_spec)
    assert n_tasks >= 10
    assert largest < 4096  # a reference to the scattered inputs, not their 256 kB
    del k


def test_cluster_numpy_float32_and_zarr(client, tmp_path):
    x1, x2 = _inputs(n1=30, n2=12, dtype=torch.float32)
    z = kernel_matrix(
        _cosine, x1.numpy(), x2.numpy(), block_size=8, client=client, out=str(tmp_path / "k.zarr")
    )
    assert z.dtype == np.float32
    expected = kernel_matrix(_cosine, x1, x2, block_size=8).numpy()
    np.testing.assert_array_equal(z[:], expected)
    # the store is on disk: a fresh reader sees the whole matrix
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "k.zarr"), mode="r")[:], expected)


def test_cluster_symmetric_into_given_zarr(client, tmp_path):
    x, _ = _inputs(n1=26)
    z = zarr.open_array(
        str(tmp_path / "k.zarr"), mode="w", shape=(26, 26), chunks=(3, 3), dtype="f8"
    )
    z[:] = np.nan
    out = kernel_matrix(rbf_kernel, x, block_size=6, client=client, out=z)
    k = out[:]
    np.testing.assert_array_equal(k, k.T)
    np.testing.assert_array_equal(k, kernel_matrix(rbf_kernel, x, block_size=6).numpy())


def test_cluster_refuses_memory_zarr_and_tensor_out(client):
    x, _ = _inputs(n1=8)
    with pytest.raises(ValueError, match="in this process's memory"):
        kernel_matrix(
            rbf_kernel, x, block_size=4, client=client, out=zarr.zeros((8, 8), chunks=(4, 4))
        )
    with pytest.raises(TypeError, match=r"out cannot be a torch\.Tensor with a client"):
        kernel_matrix(rbf_kernel, x, block_size=4, client=client, out=torch.zeros(8, 8))


def test_cluster_wrong_block_shape_is_raised(client):
    x1, x2 = _inputs()
    with pytest.raises(ValueError, match=r"kernel_fn returned a block of shape \([14], 3\)"):
        kernel_matrix(_wrong_on_last_rows, x1, x2, block_size=4, client=client)


def _dies_once(marker, a, b):
    """rbf_kernel, but the first worker to reach its third block exits (once per marker)."""
    try:
        worker = get_worker()
    except ValueError:  # the probe, in the test's own process
        return rbf_kernel(a, b)
    calls = worker.__dict__.setdefault("ntklab_calls", {})  # per worker process and per run
    calls[marker] = calls.get(marker, 0) + 1
    if calls[marker] == 3:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            pass
        else:
            os._exit(1)  # the process is gone, with the blocks it finished and the one it ran
    return rbf_kernel(a, b)


@pytest.mark.parametrize("to_zarr", [False, True])
def test_cluster_worker_killed_mid_run(client, tmp_path, to_zarr):
    from functools import partial

    client.wait_for_workers(2, timeout=60)
    marker = tmp_path / "killed"
    x, _ = _inputs(n1=40)
    out = str(tmp_path / "k.zarr") if to_zarr else None
    k = kernel_matrix(partial(_dies_once, str(marker)), x, block_size=5, client=client, out=out)
    assert marker.exists()  # a worker did die mid-run
    k = k[:] if to_zarr else k.compute()
    np.testing.assert_array_equal(k, kernel_matrix(rbf_kernel, x, block_size=5).numpy())
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next test
