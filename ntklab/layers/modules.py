"""Finite networks of the layers: torch modules in NTK parameterization."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._engine import _pad_axis


class _Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class _DenseModule(nn.Module):
    def __init__(self, fan_in, fan_out, w_std, b_std, gen, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in, generator=gen, dtype=dtype))
        self.bias = nn.Parameter(torch.randn(fan_out, generator=gen, dtype=dtype))
        self.scale, self.b_std = w_std / math.sqrt(fan_in), b_std

    def forward(self, x):
        return F.linear(x, self.weight * self.scale, self.bias * self.b_std)


class _ConvModule(nn.Module):
    def __init__(self, c_in, c_out, k, stride, pads, padding, w_std, b_std, gen, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, *k, generator=gen, dtype=dtype))
        self.bias = nn.Parameter(torch.randn(c_out, generator=gen, dtype=dtype))
        self.scale, self.b_std = w_std / math.sqrt(c_in * k[0] * k[1]), b_std
        self.pad = _TorchPad(pads, padding)
        self.stride = stride

    def forward(self, x):
        return F.conv2d(self.pad(x), self.weight * self.scale, self.bias * self.b_std, self.stride)


class _TorchPad(nn.Module):
    def __init__(self, pads, padding):
        super().__init__()
        (hb, ha), (wb, wa) = pads
        self.pads, self.mode = (wb, wa, hb, ha), padding

    def forward(self, x):
        if not any(self.pads):
            return x
        if self.mode == "circular":
            for dim, (before, after) in ((2, self.pads[2:]), (3, self.pads[:2])):
                x = _pad_axis(x, dim, before, after, True)
            return x
        return F.pad(x, self.pads)


class _PoolModule(nn.Module):
    def __init__(self, k, stride, pads, padding):
        super().__init__()
        self.pad, self.k, self.stride = _TorchPad(pads, padding), k, stride

    def forward(self, x):
        return F.avg_pool2d(self.pad(x), self.k, self.stride)


class _NormModule(nn.Module):
    def __init__(self, eps):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(self.eps + var)


class _SerialModule(nn.Sequential):
    pass


class _ParallelModule(nn.ModuleList):
    def forward(self, xs):
        return [m(x) for m, x in zip(self, xs, strict=True)]
