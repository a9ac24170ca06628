"""Tests of ntklab.spherical against closed forms, Monte Carlo and independent counts."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ntklab import analytic
from ntklab.data import uniform_sphere
from ntklab.spherical import (
    degree_energies,
    gegenbauer,
    harmonic_basis,
    mercer_eigenvalues,
    mercer_sum,
    num_harmonics,
    project_onto_degree,
    random_harmonic,
    rkhs_norm,
    sphere_quadrature,
    zonal_energies,
)


# ---------------------------------------------------------------------------- references
def monomial_eigenvalue(j: int, k: int, p: int) -> float:
    """Closed form of mu_k for the kernel t^j on S^{p-1} (derived by Rodrigues' formula and k
    integrations by parts): zero unless k <= j and j - k even, else, with lam = (p - 2)/2 and
    i = (j - k)/2:
    Gamma(lam + 1) j! Gamma(i + 1/2) / (sqrt(pi) 2^k (j - k)! Gamma(i + k + lam + 1)).
    """
    if k > j or (j - k) % 2:
        return 0.0
    lam, i = (p - 2) / 2, (j - k) // 2
    log = (
        math.lgamma(lam + 1)
        + math.lgamma(j + 1)
        + math.lgamma(i + 0.5)
        - 0.5 * math.log(math.pi)
        - k * math.log(2)
        - math.lgamma(j - k + 1)
        - math.lgamma(i + k + lam + 1)
    )
    return math.exp(log)


def count_monomials(p: int, k: int) -> int:
    """Number of exponent tuples (a_1..a_p) >= 0 with sum k, by enumeration."""
    if k < 0:
        return 0
    return sum(1 for a in itertools.product(range(k + 1), repeat=p) if sum(a) == k)


# ---------------------------------------------------------------------------- N(p, k)
@pytest.mark.parametrize("p", [2, 3, 4, 5])
@pytest.mark.parametrize("k", range(7))
def test_num_harmonics_direct_count(p, k):
    # harmonic polynomials of degree k: homogeneous ones of degree k modulo |x|^2 * degree k-2
    assert num_harmonics(p, k) == count_monomials(p, k) - count_monomials(p, k - 2)


@pytest.mark.parametrize(("p", "k"), [(2, 3), (3, 2), (3, 5), (4, 3), (5, 2)])
def test_num_harmonics_is_rank_of_zonal_functions(p, k):
    # the functions x -> P_k(x.z_j) span exactly the degree-k harmonics: numerical rank = N(p, k)
    x = uniform_sphere(80, p, seed=1)
    z = uniform_sphere(80, p, seed=2)
    s = torch.linalg.svdvals(gegenbauer(k, p, (x @ z.T).clamp(-1, 1)))
    assert int((s > 1e-9 * s[0]).sum()) == num_harmonics(p, k)


@given(p=st.integers(2, 40), k=st.integers(1, 80))
@settings(max_examples=60, deadline=None)
def test_num_harmonics_closed_form(p, k):
    assert num_harmonics(p, k) * k == (2 * k + p - 2) * math.comb(k + p - 3, k - 1)


# ---------------------------------------------------------------------------- Gegenbauer
def test_gegenbauer_known_cases(device):
    t = torch.linspace(-1, 1, 11, dtype=torch.float64, device=device)
    assert torch.allclose(gegenbauer(2, 3, t), (3 * t**2 - 1) / 2, atol=1e-14)
    assert torch.allclose(gegenbauer(5, 2, t), torch.cos(5 * torch.arccos(t)), atol=1e-12)
    # p = 5: P_2(t) = (p t^2 - 1) / (p - 1)
    assert torch.allclose(gegenbauer(2, 5, t), (5 * t**2 - 1) / 4, atol=1e-14)
    for p in (2, 3, 4, 7):
        assert gegenbauer(9, p, torch.ones(1, device=device)).item() == pytest.approx(1.0)
    out = gegenbauer(3, 4, t.float())
    assert out.dtype == torch.float32
    assert out.device == t.device


@pytest.mark.parametrize(("p", "k"), [(2, 4), (3, 3), (4, 2), (5, 4)])
def test_addition_formula_and_orthonormality(p, k):
    basis = harmonic_basis(p, k, seed=3)
    assert basis.dim == num_harmonics(p, k)
    x, y = uniform_sphere(6, p, seed=4), uniform_sphere(6, p, seed=5)
    lhs = basis(x) @ basis(y).T
    rhs = num_harmonics(p, k) * gegenbauer(k, p, (x @ y.T).clamp(-1, 1))
    assert torch.allclose(lhs, rhs, atol=1e-10)
    pts, w = sphere_quadrature(p, 2 * k)
    Y = basis(pts)
    assert torch.allclose(Y.T @ (w[:, None] * Y), torch.eye(basis.dim, dtype=Y.dtype), atol=1e-10)


def test_harmonic_basis_monte_carlo_orthonormal():
    basis = harmonic_basis(3, 2, seed=0)
    Y = basis(uniform_sphere(200_000, 3, seed=9))
    gram = Y.T @ Y / Y.shape[0]
    # each entry is a mean of 2e5 products with variance <= max_x |Y|^4 ~ 25: sd ~ 0.011
    assert (gram - torch.eye(5, dtype=gram.dtype)).abs().max() < 0.06


# ---------------------------------------------------------------------------- quadrature
@pytest.mark.parametrize("p", [2, 3, 4, 5])
def test_sphere_quadrature_moments(p):
    pts, w = sphere_quadrature(p, 6)
    assert w.sum().item() == pytest.approx(1.0, abs=1e-14)
    assert torch.allclose(pts.norm(dim=1), torch.ones(len(pts), dtype=pts.dtype), atol=1e-14)
    mom = {  # E x_1^2, x_1^4, x_1^2 x_2^2, x_1^6 under the uniform measure
        "2": 1 / p,
        "4": 3 / (p * (p + 2)),
        "22": 1 / (p * (p + 2)),
        "6": 15 / (p * (p + 2) * (p + 4)),
    }
    x1, x2 = pts[:, 0], pts[:, -1]
    assert (w * x1**2).sum().item() == pytest.approx(mom["2"], abs=1e-14)
    assert (w * x2**4).sum().item() == pytest.approx(mom["4"], abs=1e-14)
    assert (w * x1**2 * x2**2).sum().item() == pytest.approx(mom["22"], abs=1e-14)
    assert (w * x1**6).sum().item() == pytest.approx(mom["6"], abs=1e-14)
    assert abs((w * x1**3 * x2).sum().item()) < 1e-14


# ---------------------------------------------------------------------------- Funk-Hecke
@given(p=st.integers(2, 12), j=st.integers(0, 12))
@settings(max_examples=40, deadline=None)
def test_mercer_eigenvalues_monomial_closed_form(p, j):
    mu = mercer_eigenvalues(lambda t: t**j, p, j + 3)
    ref = torch.tensor([monomial_eigenvalue(j, k, p) for k in range(j + 4)], dtype=torch.float64)
    assert torch.allclose(mu, ref, rtol=1e-11, atol=1e-13)  # GL weights: ~1e-14


def test_mercer_eigenvalues_polynomial_kernel_is_finite_sum():
    # (1 + t)^3 = 1 + 3t + 3t^2 + t^3: linear combination of the monomial closed forms
    p = 4
    mu = mercer_eigenvalues(lambda t: (1 + t) ** 3, p, 6)
    coef = [1, 3, 3, 1]
    ref = [sum(c * monomial_eigenvalue(j, k, p) for j, c in enumerate(coef)) for k in range(7)]
    assert torch.allclose(mu, torch.tensor(ref, dtype=torch.float64), rtol=1e-12, atol=1e-13)
    assert mu[4:].abs().max() < 1e-13


@pytest.mark.parametrize("p", [2, 3, 5])
def test_mercer_eigenvalues_kappa_monte_carlo(p):
    # mu_k = E[kappa(x.y) P_k(x.y)] for independent uniform x, y
    gen = torch.Generator().manual_seed(11)
    x = uniform_sphere(100_000, p, generator=gen)
    y = uniform_sphere(100_000, p, generator=gen)
    t = (x * y).sum(1).clamp(-1, 1)
    mu = mercer_eigenvalues(analytic.kappa, p, 6)
    kt = analytic.kappa(t)
    for k in range(7):
        s = kt * gegenbauer(k, p, t)
        se = s.std().item() / math.sqrt(len(s))
        assert abs(s.mean().item() - mu[k].item()) < 5 * se + 1e-12, (k, se)


def test_mercer_eigenvalues_kappa_high_precision_and_zeros():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    mu = mercer_eigenvalues(analytic.kappa, 3, 120)

    def kap(th):
        c, s = mpmath.cos(th), mpmath.sin(th)
        return (2 * c * (mpmath.pi - th) + s) / mpmath.pi  # u kappa0 + kappa1 with u = cos th

    for k in (2, 40, 120):
        ref = mpmath.quad(
            lambda th, k=k: kap(th) * mpmath.legendre(k, mpmath.cos(th)) * mpmath.sin(th) / 2,
            mpmath.linspace(0, mpmath.pi, k // 2 + 2),
        )
        assert abs(mu[k].item() / float(ref) - 1) < 1e-8
    # p = 3 values: mu_0 = 1/2, mu_1 = 1/3 (exact by the monomial formulas: kappa(t) = ...)
    assert mu[0].item() == pytest.approx(0.5, rel=1e-13)
    assert mu[1].item() == pytest.approx(1 / 3, rel=1e-13)
    odd = mu[3::2]
    assert odd.abs().max() < 1e-13
    assert (mu[0::2] > 0).all()


def test_mercer_sum_reconstructs_kernel():
    p, kmax = 3, 400
    mu = mercer_eigenvalues(analytic.kappa, p, kmax)
    t = torch.linspace(-0.9, 0.9, 37, dtype=torch.float64)
    assert (mercer_sum(mu, p, t) - analytic.kappa(t)).abs().max() < 1e-5
    # at t = 1 the tail sum_k mu_k N(p, k) ~ sum k^{-2} converges like 1/K
    err = [(analytic.kappa(1.0) - mercer_sum(mu[: K + 1], p, 1.0)).item() for K in (100, 400)]
    assert 0 < err[1] < err[0]
    assert err[0] / err[1] == pytest.approx(4, rel=0.1)


def test_breakpoints_for_interior_kink():
    # |t| on S^2 (Legendre): mu_2 = 5/8 * int_{-1}^{1} |t| P_2 / 2 ... closed form 5/16 * 2/4
    mu_plain = mercer_eigenvalues(torch.abs, 3, 2, quadrature_order=64)
    mu_split = mercer_eigenvalues(torch.abs, 3, 2, quadrature_order=64, breakpoints=[0.0])
    exact = torch.tensor([0.5, 0.0, 0.125], dtype=torch.float64)  # int_0^1 t(3t^2-1)/2 dt = 1/8
    assert torch.allclose(mu_split, exact, atol=1e-13)
    assert (mu_plain - exact).abs().max() > 1e-8  # without the split the kink costs accuracy


# ---------------------------------------------------------------------------- projections
def test_degree_energies_match_zonal_formula():
    p, kmax = 4, 6
    e = torch.tensor([0.3, 0.8, 0.5, 0.0], dtype=torch.float64)
    e = e / e.norm()

    def f(x):
        return torch.exp(x @ e.to(x.dtype))

    direct = degree_energies(f, p, kmax, degree=32)
    zonal = zonal_energies(torch.exp, p, kmax)
    assert torch.allclose(direct, zonal, rtol=1e-8, atol=1e-15)
    # Parseval: total energy E[exp(2 x.e)] (computed by the 1-D Funk-Hecke mean)
    total = mercer_eigenvalues(lambda t: torch.exp(2 * t), p, 0)[0]
    assert zonal_energies(torch.exp, p, 30).sum().item() == pytest.approx(total.item(), rel=1e-12)


def test_projection_of_polynomial_reconstructs_it():
    p = 3
    f3 = random_harmonic(p, 3, seed=0)

    def f(x):
        return 0.7 + 2 * x[:, 1] + f3(x) + x[:, 0] ** 2

    x = uniform_sphere(9, p, seed=1)
    parts = [project_onto_degree(f, p, k, x) for k in range(5)]
    assert torch.allclose(sum(parts), f(x), atol=1e-12)
    assert torch.allclose(parts[3], f3(x), atol=1e-12)
    assert parts[4].abs().max() < 1e-12
    # x_1^2 = 1/3 + (x_1^2 - 1/3): its constant part adds to 0.7
    assert torch.allclose(parts[0], torch.full((9,), 0.7 + 1 / 3, dtype=torch.float64))


def test_projection_monte_carlo():
    # f_k(x) = N E_y[f(y) P_k(x.y)]: compare the quadrature with a plain Monte Carlo mean
    p, k = 3, 2

    def f(x):
        return torch.exp(x[:, 0] - 0.5 * x[:, 2])

    x = uniform_sphere(3, p, seed=2)
    y = uniform_sphere(400_000, p, seed=3)
    s = num_harmonics(p, k) * f(y)[None, :] * gegenbauer(k, p, (x @ y.T).clamp(-1, 1))
    mc, se = s.mean(1), s.std(1) / math.sqrt(y.shape[0])
    assert ((project_onto_degree(f, p, k, x) - mc).abs() < 5 * se).all()


# ---------------------------------------------------------------------------- RKHS norm
def test_rkhs_norm_of_harmonics_and_kernel_sections():
    p = 3
    mu = mercer_eigenvalues(analytic.kappa, p, 10)
    f2 = random_harmonic(p, 2, seed=5)
    e2 = degree_energies(f2, p, 10)
    assert rkhs_norm(e2, mu) == pytest.approx(1 / math.sqrt(mu[2].item()), rel=1e-10)
    f3 = random_harmonic(p, 3, seed=6)
    assert rkhs_norm(degree_energies(f3, p, 10), mu) == math.inf  # mu_3 = 0: not in the RKHS
    # reproducing property: ||K(., z)||_H^2 = K(z, z) = 1 for the RBF kernel exp((t - 1) / s^2)
    s2 = 0.5

    def rbf(t):
        return torch.exp((t - 1) / s2)

    mu_rbf = mercer_eigenvalues(rbf, p, 40)
    assert rkhs_norm(zonal_energies(rbf, p, 40), mu_rbf) == pytest.approx(1.0, rel=1e-9)


# ---------------------------------------------------------------------------- bad input
BAD_INPUT = [
    # (call, error type, message anchored at the argument's name)
    (lambda: num_harmonics(1, 2), ValueError, r"^p must be an integer >= 2"),
    (lambda: num_harmonics(2.5, 2), TypeError, r"^p must be an integer"),
    (lambda: num_harmonics(3, -1), ValueError, r"^k must be an integer >= 0"),
    (lambda: harmonic_basis(1, 2), ValueError, r"^p must be an integer >= 2"),
    (lambda: gegenbauer(-1, 3, 0.5), ValueError, r"^k must be an integer >= 0"),
    (lambda: mercer_sum([1.0], 1, 0.5), ValueError, r"^p must be an integer >= 2"),
    (lambda: mercer_eigenvalues(analytic.kappa, 3, -1), ValueError, r"^kmax must be"),
    (lambda: mercer_eigenvalues(analytic.kappa, 1, 4), ValueError, r"^p must be"),
    (lambda: mercer_eigenvalues(3.0, 3, 4), TypeError, r"^kernel must be callable"),
    # infinite at t = 1
    (
        lambda: mercer_eigenvalues(lambda t: 1 / (1 - t), 3, 4),
        ValueError,
        r"^kernel must be finite",
    ),
    # NaN for t < 0
    (lambda: mercer_eigenvalues(torch.sqrt, 3, 4), ValueError, r"^kernel must be finite"),
    # not elementwise
    (
        lambda: mercer_eigenvalues(lambda t: t.sum(), 3, 4),
        ValueError,
        r"^kernel must act elementwise",
    ),
    (
        lambda: mercer_eigenvalues(torch.abs, 3, 4, breakpoints=[1.5]),
        ValueError,
        r"^breakpoints must be cosines",
    ),
    (lambda: gegenbauer(2, 3, torch.tensor([1.5])), ValueError, r"^t must lie in \[-1, 1\]"),
    # points not on the sphere
    (
        lambda: project_onto_degree(torch.ones_like, 3, 1, torch.ones(2, 3)),
        ValueError,
        r"^x must hold points of the unit sphere",
    ),
    (
        lambda: project_onto_degree(torch.ones_like, 3, -1, uniform_sphere(2, 3, seed=0)),
        ValueError,
        r"^k must be an integer >= 0",
    ),
    (
        lambda: harmonic_basis(3, 1, seed=0)(2 * uniform_sphere(4, 3, seed=0)),
        ValueError,
        r"^x must hold points of the unit sphere",
    ),
    (
        lambda: harmonic_basis(3, 1, seed=0)(uniform_sphere(4, 4, seed=0)),
        ValueError,
        r"^x must have p = 3 columns",
    ),
    # returns (M, p), not (M,)
    (lambda: degree_energies(lambda x: x, 3, 2), ValueError, r"^f must map \(M, p\) points"),
    (lambda: degree_energies("f", 3, 2), TypeError, r"^f must be callable or a tensor"),
    (lambda: zonal_energies(2.0, 3, 4), TypeError, r"^g must be callable"),
    (lambda: sphere_quadrature(6, 200), ValueError, r"^sphere_quadrature\(p=6, degree=200\)"),
    (lambda: rkhs_norm([-1.0, 1.0], [1.0, 1.0]), ValueError, r"^energies must be >= 0"),
    (lambda: rkhs_norm([1.0, 1.0], [-1.0, 1.0]), ValueError, r"^mu must be >= 0"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), BAD_INPUT)
def test_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_quadrature_order_sets_the_number_of_nodes():
    # a Gauss-Legendre rule with q nodes in the angle integrates cos(g)^j sin(g) exactly only for
    # small j: with 2 nodes mu_4 of t^8 is visibly off, with 64 nodes it is exact
    exact = mercer_eigenvalues(lambda t: t**8, 3, 4, quadrature_order=64)
    rough = mercer_eigenvalues(lambda t: t**8, 3, 4, quadrature_order=2)
    assert float(exact[0]) == pytest.approx(1 / 9, rel=1e-12)  # E[t^8], t uniform on [-1, 1]
    assert abs(float(rough[0]) - 1 / 9) > 1e-3
    with pytest.raises(ValueError, match=r"^quadrature_order must be an integer >= 2"):
        mercer_eigenvalues(torch.exp, 3, 2, quadrature_order=1)


def test_random_bases_same_numbers_on_every_device(device):
    pts, _ = sphere_quadrature(3, 4)
    ref = random_harmonic(3, 2, seed=4)(pts)
    out = random_harmonic(3, 2, seed=4, device=device)(pts.to(device))
    assert out.device.type == device.type
    assert torch.allclose(out.cpu(), ref, rtol=1e-10, atol=1e-12)
