import math

import numpy as np
import pytest
import torch

from ntklab import validation as v


def test_as_tensor_keeps_tensor_dtype_and_converts_numpy_to_float64():
    t32 = torch.ones(3, dtype=torch.float32)
    assert v.as_tensor(t32, "x").dtype == torch.float32
    assert v.as_tensor(np.ones(3), "x").dtype == torch.float64
    assert v.as_tensor([1, 2], "x").dtype == torch.float64
    assert v.as_tensor(2.0, "x").dim() == 0
    assert v.as_tensor(torch.arange(3), "x").dtype == torch.float64  # integers become float


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -math.inf])
def test_as_tensor_rejects_non_finite_and_names_argument(bad):
    with pytest.raises(ValueError, match="inputs"):
        v.as_tensor([1.0, bad], "inputs")


def test_as_tensor_rejects_wrong_types_and_ndim():
    with pytest.raises(TypeError, match="x must be"):
        v.as_tensor("abc", "x")
    with pytest.raises(TypeError, match="x must be"):
        v.as_tensor(True, "x")
    with pytest.raises(ValueError, match="x must be 2-D"):
        v.as_tensor(np.ones(3), "x", ndim=2)


def test_check_matrix_columns():
    with pytest.raises(ValueError, match=r"x must have 4 columns.*\(2, 3\)"):
        v.check_matrix(np.ones((2, 3)), "x", cols=4)
    assert v.check_matrix(np.ones((2, 3)), "x", cols=3).shape == (2, 3)


@pytest.mark.parametrize(
    ("value", "exc"), [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_check_positive_int(value, exc):
    with pytest.raises(exc, match="width"):
        v.check_positive_int(value, "width")


def test_check_positive_int_even():
    with pytest.raises(ValueError, match="width must be even"):
        v.check_positive_int(5, "width", even=True)
    assert v.check_positive_int(np.int64(6), "width", even=True) == 6


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_check_positive_rejects(value):
    with pytest.raises(ValueError, match="alpha"):
        v.check_positive(value, "alpha")


@pytest.mark.parametrize("value", [0.0, 1.0, -0.1, 1.5])
def test_check_probability_rejects(value):
    with pytest.raises(ValueError, match="delta"):
        v.check_probability(value, "delta")


def test_check_choice():
    assert v.check_choice("relu", "activation", ["relu", "erf"]) == "relu"
    with pytest.raises(ValueError, match="activation must be one of"):
        v.check_choice("tanh", "activation", ["relu", "erf"])
    with pytest.raises(TypeError, match="activation"):
        v.check_choice(3, "activation", ["relu"])


def test_make_generator_reproducible_and_exclusive():
    a = torch.randn(4, generator=v.make_generator(seed=3))
    b = torch.randn(4, generator=v.make_generator(seed=3))
    assert torch.equal(a, b)
    g = torch.Generator().manual_seed(1)
    assert v.make_generator(generator=g) is g
    with pytest.raises(ValueError, match="either seed or generator"):
        v.make_generator(seed=1, generator=g)
    with pytest.raises(TypeError, match="seed"):
        v.make_generator(seed=1.5)


def test_same_length():
    with pytest.raises(ValueError, match="x_train and y_train"):
        v.check_same_length(torch.ones(3), "x_train", torch.ones(4), "y_train")


def test_resolve_device_accepts_str_int_and_device():
    assert v.resolve_device(None) == torch.device("cpu")
    assert v.resolve_device("cpu") == torch.device("cpu")
    assert v.resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(TypeError, match="device"):
        v.resolve_device(3.0)
    with pytest.raises(TypeError, match="device"):
        v.resolve_device(True)
    with pytest.raises(ValueError, match="device"):
        v.resolve_device(-1)
    with pytest.raises(ValueError, match="device 'gpu' is not a valid"):
        v.resolve_device("gpu")


@pytest.mark.parametrize("request_", ["cuda", "cuda:0", 0, torch.device("cuda")])
def test_resolve_device_cuda_without_cuda_is_a_value_error(request_, monkeypatch):
    # the same message on any machine: pretend CUDA is absent
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device .* asks for CUDA, but CUDA is not available"):
        v.resolve_device(request_)
    with pytest.raises(ValueError, match="CUDA is not available"):
        v.as_tensor([1.0], "x", device=request_)


def test_resolve_device_int_is_a_cuda_index(cuda):
    assert v.resolve_device(0) == torch.device("cuda", 0)
    n = torch.cuda.device_count()
    with pytest.raises(ValueError, match=f"only {n} CUDA device"):
        v.resolve_device(n)


def test_make_generator_is_always_on_the_cpu():
    assert v.make_generator(seed=0).device == torch.device("cpu")
    assert v.make_generator().device == torch.device("cpu")


def test_make_generator_refuses_a_cuda_generator(cuda):
    with pytest.raises(ValueError, match=r"generator must be a CPU torch\.Generator"):
        v.make_generator(generator=torch.Generator(device=cuda))


def test_finite_check_works_inside_torch_func_transforms():
    # a module that validates its input in forward must still be usable under vmap/jacrev,
    # as the empirical tangent kernel does; the check itself runs outside the transform
    def f(x):
        return v.as_tensor(x, "x").sum() ** 2

    x = torch.ones(4, 3, dtype=torch.float64)
    assert torch.equal(torch.func.vmap(f)(x), torch.full((4,), 9.0, dtype=torch.float64))
    assert torch.equal(torch.func.jacrev(f)(x[0]), torch.full((3,), 6.0, dtype=torch.float64))
    with pytest.raises(ValueError, match="x contains NaN"):
        f(torch.tensor([1.0, float("nan")]))
