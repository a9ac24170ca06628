"""Smooth activations in Bietti & Mairal (2019), Proposition 9 (course chapter 6).

* :func:`activation_gammas` - the Gaussian moments ``gamma_j = E[sigma^{(j)}(u)^2]``;
* :func:`lipschitz_bound_smooth` - Proposition 9's Lipschitz constant of the kernel map;
* :func:`smooth_activation_ntk` - the two-layer NTK of a smooth activation on the sphere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..spherical import _check_callable, _check_cosines
from ..validation import as_tensor, check_positive_int

__all__ = ["activation_gammas", "lipschitz_bound_smooth", "smooth_activation_ntk"]


def _hermite(n_nodes: int):
    z, w = np.polynomial.hermite_e.hermegauss(n_nodes)
    return z, w / w.sum()


def activation_gammas(derivatives: Sequence[Callable], *, n_nodes: int = 120) -> np.ndarray:
    """``gamma_j = E_{u ~ N(0,1)}[sigma^{(j)}(u)^2]`` for the callables ``sigma, sigma', ...``.

    Gauss-Hermite (probabilists') quadrature with ``n_nodes`` nodes; the callables act on numpy
    arrays.  Proposition 9 of Bietti & Mairal uses ``j = 0, 1, 2``.
    """
    n_nodes = check_positive_int(n_nodes, "n_nodes")
    if isinstance(derivatives, (str, bytes)) or not isinstance(derivatives, Sequence):
        raise TypeError("derivatives must be a sequence of callables (sigma, sigma', sigma'')")
    z, w = _hermite(n_nodes)
    out = []
    for j, fn in enumerate(derivatives):
        vals = np.asarray(_check_callable(fn, f"derivatives[{j}]")(z), dtype=float)
        if vals.shape != z.shape or not np.all(np.isfinite(vals)):
            raise ValueError(f"derivatives[{j}] must return finite values elementwise")
        out.append(float(np.sum(w * vals**2)))
    return np.array(out)


def lipschitz_bound_smooth(gammas: Any) -> float:
    """Proposition 9: ``sqrt((g0 + g1) max(1, (2 g1 + g2) / (g0 + g1)))`` for ``(g0, g1, g2)``."""
    g = np.asarray(gammas, dtype=float).ravel()
    if g.shape != (3,) or not np.all(np.isfinite(g)) or np.any(g < 0) or g[0] <= 0:
        raise ValueError(f"gammas must be (gamma_0 > 0, gamma_1 >= 0, gamma_2 >= 0), got {g}")
    s = g[0] + g[1]
    return math.sqrt(s * max(1.0, (2 * g[1] + g[2]) / s))


def smooth_activation_ntk(
    sigma: Callable, dsigma: Callable, u: Any, *, n_nodes: int = 80
) -> torch.Tensor:
    """Two-layer NTK of a smooth activation on the sphere, as a function of ``u = x.y``:

    ``K(u) = u E[sigma'(a) sigma'(b)] + E[sigma(a) sigma(b)]``, ``(a, b)`` standard Gaussians
    with correlation ``u`` (``a = w.x``, ``b = w.y``, ``w ~ N(0, I)``).  Tensor-product
    Gauss-Hermite with ``n_nodes^2`` nodes: ``a = z1``, ``b = u z1 + sqrt(1 - u^2) z2``.
    """
    _check_callable(sigma, "sigma")
    _check_callable(dsigma, "dsigma")
    n_nodes = check_positive_int(n_nodes, "n_nodes")
    u_t = as_tensor(u, "u")
    _check_cosines(u_t, "u")
    un = u_t.detach().cpu().double().clamp(-1, 1).numpy()
    z, w = _hermite(n_nodes)
    z1, z2 = z[:, None], z[None, :]
    W = w[:, None] * w[None, :]
    out = np.empty(un.size)
    for i, ui in enumerate(un.ravel()):
        b = ui * z1 + math.sqrt(max(1 - ui * ui, 0.0)) * z2
        a = np.broadcast_to(z1, b.shape)
        out[i] = ui * np.sum(W * dsigma(a) * dsigma(b)) + np.sum(W * sigma(a) * sigma(b))
    return torch.as_tensor(out.reshape(un.shape), dtype=u_t.dtype, device=u_t.device)
