"""Reference kernels from neural-tangents 0.6.5 for tests/test_layers.py.

Run in its own virtual environment (neural-tangents is a development reference, not a
dependency, and does not import with current JAX)::

    python -m venv /work/nt-venv
    /work/nt-venv/bin/pip install neural-tangents==0.6.5 jax==0.4.26 jaxlib==0.4.26 \
        "numpy<2" "scipy<1.13" tf2jax==0.3.6
    /work/nt-venv/bin/python tests/reference/make_nt_reference.py

It writes ``nt_reference.npz`` next to itself: the inputs (NCHW, as ntklab takes them; they are
transposed to NHWC for neural-tangents) and, for every architecture NAME in ``ARCHS``, the
arrays ``NAME/nngp``, ``NAME/ntk`` (x1 with itself) and ``NAME/nngp12``, ``NAME/ntk12``
(x1 against x2).  tests/test_layers.py builds the same architectures with ntklab.layers.
"""

from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from neural_tangents import stax  # noqa: E402


def conv(k=3, stride=1, padding="SAME", w=1.5, b=0.1):
    k = (k, k) if isinstance(k, int) else k
    return stax.Conv(8, k, (stride, stride), padding, W_std=w, b_std=b)


def dense(w=1.5, b=0.1):
    return stax.Dense(8, W_std=w, b_std=b)


ARCHS = {
    "mlp_relu": ("vec", stax.serial(dense(), stax.Relu(), dense(1.2, 0.3), stax.Relu(), dense())),
    "mlp_erf": ("vec", stax.serial(dense(1.2, 0.3), stax.Erf(), dense(0.9, 0.5))),
    "mlp_layernorm": ("vec", stax.serial(dense(), stax.LayerNorm(), stax.Erf(), dense())),
    "cnn_same_flatten": (
        "img",
        stax.serial(conv(), stax.Relu(), conv((2, 3)), stax.Relu(), stax.Flatten(), dense()),
    ),
    "cnn_valid_flatten": (
        "img",
        stax.serial(
            conv(3, 1, "VALID"),
            stax.Relu(),
            conv(2, 2, "VALID", 1.1, 0.0),
            stax.Erf(),
            stax.Flatten(),
            dense(),
        ),
    ),
    "cnn_circular_flatten": (
        "img",
        stax.serial(
            conv(3, 1, "CIRCULAR"), stax.Relu(), conv(3, 2, "CIRCULAR"), stax.Flatten(), dense()
        ),
    ),
    "cnn_stride_same_gap": (
        "img",
        stax.serial(conv(3, 2, "SAME"), stax.Relu(), stax.GlobalAvgPool(), dense()),
    ),
    "cnn_gap": (
        "img",
        stax.serial(
            conv(),
            stax.Relu(),
            conv(3, 1, "SAME", 1.3, 0.2),
            stax.Relu(),
            stax.GlobalAvgPool(),
            dense(),
        ),
    ),
    "cnn_avgpool": (
        "img",
        stax.serial(
            conv(),
            stax.Relu(),
            stax.AvgPool((2, 2), (2, 2)),
            conv(2, 1, "VALID"),
            stax.Erf(),
            stax.AvgPool((2, 2)),
            stax.Flatten(),
            dense(),
        ),
    ),
    "cnn_avgpool_same_circular": (
        "img",
        stax.serial(
            conv(),
            stax.Relu(),
            stax.AvgPool((3, 3), (1, 1), "SAME"),
            conv(),
            stax.Relu(),
            stax.AvgPool((2, 2), (2, 2), "CIRCULAR"),
            stax.GlobalAvgPool(),
            dense(),
        ),
    ),
    "resnet": (
        "img",
        stax.serial(
            conv(),
            stax.FanOut(2),
            stax.parallel(stax.serial(stax.Relu(), conv(), stax.Relu(), conv()), stax.Identity()),
            stax.FanInSum(),
            stax.Relu(),
            stax.GlobalAvgPool(),
            dense(),
        ),
    ),
    "cnn_layernorm": (
        "img",
        stax.serial(
            conv(),
            stax.LayerNorm(),
            stax.Relu(),
            conv(),
            stax.Relu(),
            stax.GlobalAvgPool(),
            dense(),
        ),
    ),
    "cnn_layernorm_flatten": (
        "img",
        stax.serial(conv(), stax.LayerNorm(), stax.Erf(), stax.Flatten(), dense()),
    ),
}


def main():
    rng = np.random.default_rng(20240615)
    data = {
        "vec_x1": rng.standard_normal((4, 5)),
        "vec_x2": rng.standard_normal((3, 5)),
        "img_x1": rng.standard_normal((3, 2, 6, 6)),  # NCHW
        "img_x2": rng.standard_normal((2, 2, 6, 6)),
    }
    out = dict(data)
    for name, (kind, (_, _, kernel_fn)) in ARCHS.items():
        x1, x2 = data[f"{kind}_x1"], data[f"{kind}_x2"]
        if kind == "img":  # NCHW -> NHWC
            x1, x2 = x1.transpose(0, 2, 3, 1), x2.transpose(0, 2, 3, 1)
        k11 = kernel_fn(x1, None, ("nngp", "ntk"))
        k12 = kernel_fn(x1, x2, ("nngp", "ntk"))
        out[f"{name}/nngp"], out[f"{name}/ntk"] = np.asarray(k11.nngp), np.asarray(k11.ntk)
        out[f"{name}/nngp12"], out[f"{name}/ntk12"] = np.asarray(k12.nngp), np.asarray(k12.ntk)
        print(name, out[f"{name}/ntk"][0, :2])
    path = Path(__file__).with_name("nt_reference.npz")
    np.savez_compressed(path, **out)
    print("wrote", path, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
