import pytest
import torch

from ntklab import data


def test_binary_digits_shapes_labels_and_sphere():
    x, y = data.digits((4, 9))
    assert x.shape == (y.shape[0], 64)
    assert x.dtype == torch.float64
    # load_digits has 181 fours and 180 nines
    assert int((y == 1).sum()) == 181
    assert int((y == -1).sum()) == 180
    assert torch.allclose(x.norm(dim=1), torch.ones(len(y), dtype=x.dtype))
    xc, _ = data.digits((4, 9), normalize="centered_sphere")
    assert torch.allclose(xc.norm(dim=1), torch.ones(len(y), dtype=x.dtype))
    # "centered_sphere": subtract the mean image of the selected points, then scale rows to 1
    raw, _ = data.digits((4, 9), normalize=None)
    assert float(raw.max()) == 16.0
    assert float(raw.min()) == 0.0
    centred = raw - raw.mean(0)
    assert torch.allclose(xc, centred / centred.norm(dim=1, keepdim=True))


def test_multiclass_labels_are_positions_in_classes():
    x, y = data.digits()
    assert x.shape == (1797, 64)
    assert y.dtype == torch.int64
    assert sorted(set(y.tolist())) == list(range(10))
    _, y3 = data.digits((7, 1, 3))
    _, yall = data.digits()
    keep = (yall == 7) | (yall == 1) | (yall == 3)
    lookup = {7: 0, 1: 1, 3: 2}
    assert y3.tolist() == [lookup[v] for v in yall[keep].tolist()]


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.37, 0.5, 1.0])
def test_corruption_fraction_is_exact(fraction):
    _, clean = data.digits((3, 8))
    _, noisy = data.digits((3, 8), corrupt=fraction, seed=3)
    assert int((noisy != clean).sum()) == round(fraction * len(clean))
    _, clean10 = data.digits()
    _, noisy10 = data.digits(corrupt=fraction, seed=3)
    assert int((noisy10 != clean10).sum()) == round(fraction * 1797)
    assert int(noisy10.min()) >= 0
    assert int(noisy10.max()) <= 9


def test_corruption_is_seeded():
    a = data.digits((0, 1), corrupt=0.3, seed=5)[1]
    assert torch.equal(a, data.digits((0, 1), corrupt=0.3, seed=5)[1])
    gen = torch.Generator().manual_seed(5)
    assert torch.equal(a, data.digits((0, 1), corrupt=0.3, generator=gen)[1])
    assert not torch.equal(a, data.digits((0, 1), corrupt=0.3, seed=6)[1])


def test_corrupt_labels_multiclass_spreads_over_other_classes():
    y = torch.zeros(3000, dtype=torch.int64)
    z = data.corrupt_labels(y, 1.0, num_classes=4, seed=0)
    counts = torch.bincount(z, minlength=4)
    # every label moved, about 1000 to each of the three others (sd ~ 26)
    assert int(counts[0]) == 0
    assert bool(((counts[1:] - 1000).abs() < 130).all())


def test_dtype_and_device(device):
    x, y = data.digits((0, 1), corrupt=0.2, seed=1, dtype=torch.float32, device=device)
    assert x.dtype == y.dtype == torch.float32
    assert x.device.type == device.type
    _x64, y64 = data.digits((0, 1), corrupt=0.2, seed=1)
    assert torch.equal(y.cpu().double(), y64)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"corrupt": 1.5}, ValueError, "corrupt"),
        ({"corrupt": -0.1}, ValueError, "corrupt"),
        ({"corrupt": "0.1"}, TypeError, "corrupt"),
        ({"classes": (3, 10)}, ValueError, "unknown class 10"),
        ({"classes": (3, 3)}, ValueError, "distinct"),
        ({"classes": (3,)}, ValueError, "two"),
        ({"classes": (3, 2.5)}, TypeError, "integers"),
        ({"classes": "38"}, TypeError, "classes"),
        ({"normalize": "unit"}, ValueError, "normalize"),
        ({"seed": 1, "generator": torch.Generator()}, ValueError, "not both"),
        ({"dtype": torch.int64}, TypeError, "dtype"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    kwargs.setdefault("classes", (0, 1))
    with pytest.raises(error, match=match):
        data.digits(**kwargs)


def test_corrupt_labels_bad_arguments():
    with pytest.raises(ValueError, match="fraction"):
        data.corrupt_labels(torch.ones(3), 2.0)
    with pytest.raises(ValueError, match="\\+1 or -1"):
        data.corrupt_labels(torch.tensor([0.5, 1.0]), 0.5)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        data.corrupt_labels(torch.tensor([0, 3]), 0.5, num_classes=3)
    with pytest.raises(TypeError, match="1-D torch tensor"):
        data.corrupt_labels([1.0, -1.0], 0.5)
