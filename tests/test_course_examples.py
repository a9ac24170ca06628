import pytest
import torch

from ntklab.course.examples import example_11_5_data


@pytest.mark.parametrize("kind", ["ring", "blobs"])
def test_example_11_5_data_shapes_labels_and_geometry(kind):
    X, y = example_11_5_data(40, kind=kind, seed=0)
    assert X.shape == (40, 2)
    assert y.shape == (40,)
    assert sorted(set(y.tolist())) == [-1.0, 1.0]
    assert int((y > 0).sum()) == 20
    if kind == "ring":  # inside radius 0.5 for +1, on the annulus 1..1.5 for -1
        r = X.norm(dim=1)
        assert bool((r[y > 0] <= 0.5).all())
        assert bool(((r[y < 0] >= 1.0) & (r[y < 0] <= 1.5)).all())


@pytest.mark.parametrize("kind", ["ring", "blobs"])
def test_example_11_5_data_same_numbers_on_every_device(kind, device):
    X, y = example_11_5_data(10, kind=kind, seed=3)
    Xd, yd = example_11_5_data(10, kind=kind, seed=3, device=device)
    assert Xd.device.type == device.type
    assert torch.allclose(Xd.cpu(), X, rtol=1e-12, atol=1e-14)
    assert torch.equal(yd.cpu(), y)


def test_example_11_5_data_bad_input():
    with pytest.raises(ValueError, match=r"^m must be even"):
        example_11_5_data(5)
    with pytest.raises(ValueError, match=r"^kind must be"):
        example_11_5_data(4, kind="moons")
