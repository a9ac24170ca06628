"""Chapter 8: convolutional tangent kernels on the digits.

Helpers for the comparison of Arora et al. (2019, "On exact computation with an infinitely wide
neural net", Section 6): kernel regression on one-hot targets with a Gram matrix, and a small
finite CNN trained by Adam, scored on the same split.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..linalg import psd_solve
from ..validation import check_nonnegative, check_positive_int, make_generator


def kernel_classifier_accuracy(
    k_train: torch.Tensor,
    k_test: torch.Tensor,
    labels: torch.Tensor,
    labels_test: torch.Tensor,
    *,
    ridge: float = 0.0,
) -> float:
    """Test accuracy of kernel regression on centred one-hot targets (Arora et al. 2019, Sec. 6).

    Solves ``(K + ridge I) alpha = Y`` with ``Y = onehot(labels) - 1/k`` (``k`` classes, as Arora
    et al. use ``-0.1`` and ``0.9`` for CIFAR-10's ten), predicts ``k_test alpha`` and takes the
    arg max of each row.  The infinite-width network trained to convergence on the squared
    loss predicts exactly this (chapter 3), so the accuracy is the wide network's.

    Parameters
    ----------
    k_train : (m, m) tensor
        Gram matrix of the training points.
    k_test : (N, m) tensor
        Kernel between test and training points.
    labels, labels_test : (m,) and (N,) integer tensors
        Classes ``0..k-1``; ``k`` is the number of classes present in either.
    ridge : float
        Absolute ridge added to the diagonal, ``>= 0``.

    Returns
    -------
    float
        The fraction of test points whose arg max is their label.

    Raises
    ------
    ValueError
        Shapes that disagree, or a negative ridge.

    Examples
    --------
    >>> import torch
    >>> k = torch.eye(2, dtype=torch.float64)
    >>> kernel_classifier_accuracy(k, k, torch.tensor([0, 1]), torch.tensor([0, 1]))
    1.0
    """
    ridge = check_nonnegative(ridge, "ridge")
    m = labels.shape[0]
    if k_train.shape != (m, m):
        raise ValueError(f"k_train must be ({m}, {m}), got {tuple(k_train.shape)}")
    if k_test.dim() != 2 or k_test.shape != (labels_test.shape[0], m):
        raise ValueError(f"k_test must be ({labels_test.shape[0]}, {m}), got {tuple(k_test.shape)}")
    classes = int(max(labels.max(), labels_test.max())) + 1
    y = nn.functional.one_hot(labels, classes).to(k_train.dtype) - 1.0 / classes
    alpha = psd_solve(k_train, y, ridge=ridge)
    return float(((k_test @ alpha).argmax(1) == labels_test).double().mean())


def train_cnn(
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    width: int = 32,
    steps: int = 200,
    step_size: float = 1e-2,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """A small CNN trained by full-batch Adam on the cross-entropy loss.

    ``Conv(3x3, same) - ReLU - Conv(3x3, same) - ReLU - global average pool - Linear``, in
    PyTorch's standard parameterization and initialization, float32: the kind of network the
    convolutional tangent kernel is compared with (Arora et al. 2019 train theirs with SGD and
    far more channels).  Runs on one thread (on a loaded machine torch's threads only contend).

    Parameters
    ----------
    x : (m, C, H, W) tensor
        Training images.
    labels : (m,) integer tensor
        Classes ``0..k-1``.
    width : int
        Channels of both convolutions.
    steps : int
        Full-batch Adam steps.
    step_size : float
        Adam's learning rate.
    seed, generator : optional
        Either (not both): the initialization.

    Returns
    -------
    torch.nn.Module
        The trained network in eval mode, float32; map float32 images to class scores.

    Raises
    ------
    ValueError
        ``x`` not 4-D, a label count that differs from the images, or bad sizes.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(4, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    >>> net = train_cnn(x, torch.tensor([0, 1, 0, 1]), width=4, steps=2, seed=0)
    >>> net(x.float()).shape
    torch.Size([4, 2])
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be an (m, C, H, W) tensor, got {getattr(x, 'shape', x)!r}")
    if labels.shape != (x.shape[0],):
        raise ValueError(f"labels must have shape ({x.shape[0]},), got {tuple(labels.shape)}")
    width = check_positive_int(width, "width")
    steps = check_positive_int(steps, "steps")
    gen = make_generator(seed, generator)
    classes = int(labels.max()) + 1
    net = nn.Sequential(
        nn.Conv2d(x.shape[1], width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, classes),
    ).float()  # float32 whatever torch's default dtype
    with torch.no_grad():  # PyTorch's default scale U(-1/sqrt(fan_in), .), from our generator
        for layer in net:
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                bound = layer.weight[0].numel() ** -0.5
                for p in (layer.weight, layer.bias):
                    p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
    xf = x.float()
    opt = torch.optim.Adam(net.parameters(), lr=step_size)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.enable_grad():  # trains even when called under no_grad
            for _ in range(steps):
                opt.zero_grad()
                nn.functional.cross_entropy(net(xf), labels).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval()


def accuracy(scores: Any, labels: torch.Tensor) -> float:
    """Fraction of rows of ``scores`` (N, k) whose arg max is the label (N,).

    Examples
    --------
    >>> import torch
    >>> accuracy(torch.tensor([[1.0, 0.0], [1.0, 2.0]]), torch.tensor([0, 0]))
    0.5
    """
    scores = torch.as_tensor(scores)
    if scores.dim() != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores must be ({labels.shape[0]}, k), got {tuple(scores.shape)}")
    return float((scores.argmax(1) == labels).double().mean())


def relative_error(estimate: Any, reference: Any) -> float:
    """Relative Frobenius distance ``||estimate - reference||_F / ||reference||_F``.

    Parameters
    ----------
    estimate, reference : array_like
        Arrays of the same shape; ``reference`` must not be zero.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the shapes differ or ``reference`` is zero.

    Examples
    --------
    >>> import torch
    >>> relative_error(torch.tensor([3.0, 4.5]), torch.tensor([3.0, 4.0]))
    0.1
    """
    estimate, reference = torch.as_tensor(estimate), torch.as_tensor(reference)
    if estimate.shape != reference.shape:
        raise ValueError(
            f"estimate has shape {tuple(estimate.shape)}, reference "
            f"{tuple(reference.shape)}: they must agree"
        )
    scale = float(reference.norm())
    if scale == 0.0:
        raise ValueError("reference must not be zero")
    return float((estimate - reference).norm()) / scale


def nngp_monte_carlo(
    arch: Any, x: torch.Tensor, width: int, draws: int, *, d_out: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """The NNGP of an architecture by Monte Carlo over random finite networks.

    Each of ``draws`` networks of the given width (seeds ``0 .. draws - 1``) has ``d_out``
    outputs, independent draws of its readout; their empirical NNGP
    (:func:`ntklab.empirical.nngp`, ``outputs="trace"``: the mean over the outputs of
    :math:`f(x_1) f(x_2)`) is averaged over the networks. Chapter 8 compares the result with
    the limit ``arch.kernels(x).nngp`` within its standard error.

    Parameters
    ----------
    arch : object
        An architecture of :mod:`ntklab.layers` (anything with
        ``network(input_shape, width, d_out=..., seed=...)``).
    x : torch.Tensor
        Inputs, shape ``(N, ...)``; ``x.shape[1:]`` is the network's input shape.
    width : int
        Channels (or units) of every hidden layer.
    draws : int
        Number of random networks, at least 2.
    d_out : int, optional
        Outputs per network (default 256).

    Returns
    -------
    mean : torch.Tensor
        The Monte Carlo NNGP, shape ``(N, N)``.
    standard_error : torch.Tensor
        Standard error of each entry over the networks, shape ``(N, N)``.

    Raises
    ------
    ValueError
        If ``draws < 2`` or ``width``, ``d_out`` are not positive integers.

    Examples
    --------
    >>> import torch
    >>> from ntklab import layers as L
    >>> arch = L.serial(L.Dense(W_std=1.0), L.ReLU(), L.Dense(W_std=1.0))
    >>> x = torch.eye(3, dtype=torch.float64)
    >>> mean, se = nngp_monte_carlo(arch, x, 64, 4, d_out=8)
    >>> mean.shape, se.shape
    (torch.Size([3, 3]), torch.Size([3, 3]))
    """
    from ..empirical import nngp

    check_positive_int(width, "width")
    check_positive_int(d_out, "d_out")
    check_positive_int(draws, "draws", minimum=2)
    shape = tuple(x.shape[1:])
    with torch.no_grad():
        k = torch.stack(
            [
                nngp(arch.network(shape, width, d_out=d_out, seed=s), x, outputs="trace")
                for s in range(draws)
            ]
        )
    return k.mean(0), k.std(0) / draws**0.5


def ntk_width_errors(arch: Any, x: torch.Tensor, widths: Any, seeds: int) -> list[float]:
    """Relative distance of finite networks' tangent kernels to the limit, per width.

    For each width, the mean over networks with seeds ``0 .. seeds - 1`` of
    :func:`relative_error` between :func:`ntklab.empirical.ntk` (``outputs="trace"``) and
    ``arch.kernels(x).ntk``. Chapter 8 fits a power law to the result (slope about
    :math:`-1/2`).

    Parameters
    ----------
    arch : object
        An architecture of :mod:`ntklab.layers` (anything with ``kernels(x)`` and
        ``network(input_shape, width, seed=...)``).
    x : torch.Tensor
        Inputs, shape ``(N, ...)``.
    widths : sequence of int
        Widths (channels) to measure.
    seeds : int
        Networks per width.

    Returns
    -------
    list of float
        One mean relative error per width.

    Raises
    ------
    ValueError
        If ``seeds`` or a width is not a positive integer.

    Examples
    --------
    >>> import torch
    >>> from ntklab import layers as L
    >>> arch = L.serial(L.Dense(W_std=1.0, b_std=0.5))
    >>> x = torch.eye(3, dtype=torch.float64)
    >>> [round(e, 12) for e in ntk_width_errors(arch, x, [4, 8], 2)]
    [0.0, 0.0]
    """
    from ..empirical import ntk

    check_positive_int(seeds, "seeds")
    widths = [check_positive_int(n, "widths") for n in widths]
    limit = arch.kernels(x).ntk
    shape = tuple(x.shape[1:])
    return [
        sum(
            relative_error(ntk(arch.network(shape, n, seed=s), x, outputs="trace"), limit)
            for s in range(seeds)
        )
        / seeds
        for n in widths
    ]
