"""Backbones: MLP, Conv-4 and a 1-D CNN, each split into ``body`` (features) and ``head``.

Every backbone is an ``nn.Module`` with two children:

* ``body`` maps inputs to a feature vector of size ``feature_dim``;
* ``head`` is an ``nn.Linear(feature_dim, out_features)`` (``nn.Identity`` when
  ``out_features`` is None, e.g. for Prototypical Networks which only need the embedding).

ANIL adapts the parameters whose names start with ``head.``; every other algorithm treats the
parameters as one dictionary passed to ``torch.func.functional_call``.

Normalisation policy (``norm=`` of :class:`Conv4` and :class:`CNN1d`)
----------------------------------------------------------------------
``vmap`` cannot update BatchNorm running statistics, so no backbone keeps any:

* ``"batch"`` -- BatchNorm without running statistics (:class:`BatchStatNorm`): statistics always
  come from the current forward batch (one task's support set, or its query set). This is
  *transductive* at test time, exactly as in Finn et al.'s MAML reference code, and identical in
  the vmap and loop paths because each task is normalised on its own. Padded examples of a
  masked task are part of that batch, so with ``"batch"`` padding changes the real examples'
  outputs; use ``"group"``/``"layer"`` for ragged (padded) task batches.
* ``"group"`` -- GroupNorm (8 groups): per-example, non-transductive.
* ``"layer"`` -- GroupNorm with one group (LayerNorm over channels and positions).
* ``"none"`` -- no normalisation.

Initialisation draws from an explicit ``torch.Generator`` (:func:`init_parameters`): no global RNG.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import vmap

from metasuite.core.errors import UnknownNameError

__all__ = [
    "BACKBONES",
    "MLP",
    "NORMS",
    "BatchStatNorm",
    "CNN1d",
    "Conv4",
    "build_backbone",
    "init_parameters",
    "under_vmap",
    "vmap_safe",
]

NORMS = ("batch", "group", "layer", "none")


_UNDER_VMAP: contextvars.ContextVar[bool] = contextvars.ContextVar("metasuite_under_vmap", default=False)


def vmap_safe(fn: Callable[..., Any], in_dims: Any) -> Callable[..., Any]:
    """``torch.func.vmap(fn, in_dims)`` that also tells :class:`BatchStatNorm` it runs batched.

    Use this (not ``vmap`` directly) to batch any function that may run a backbone.
    """
    batched = vmap(fn, in_dims=in_dims)

    def run(*args: Any) -> Any:
        token = _UNDER_VMAP.set(True)
        try:
            return batched(*args)
        finally:
            _UNDER_VMAP.reset(token)

    return run


def under_vmap() -> bool:
    """True while a function batched by :func:`vmap_safe` runs."""
    return _UNDER_VMAP.get()


class BatchStatNorm(nn.Module):
    """Batch normalisation with batch statistics only (no running statistics).

    Same output as ``nn.BatchNorm{1,2}d(channels, track_running_stats=False)`` in training mode
    (biased variance, ``eps=1e-5``) and the same ``weight``/``bias`` parameter names. Input
    ``(batch, channels, *spatial)``; statistics over every dim but ``channels``.

    Two implementations of the same function: torch's fused ``F.batch_norm`` (fast forward and
    backward kernels) outside ``vmap``, and plain tensor operations under :func:`vmap_safe`,
    because the fused backward has a wrong ``vmap`` batching rule for second derivatives
    (pytorch/functorch#534: MAML's vmap meta-gradient through ``nn.BatchNorm2d`` was ~1% off the
    loop path).
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        if not _UNDER_VMAP.get():
            return F.batch_norm(x, None, None, self.weight, self.bias, training=True, momentum=0.0, eps=self.eps)
        dims = [0, *range(2, x.ndim)]
        # E[x^2] - E[x]^2: two fast reductions (torch.var_mean over dims (0, 2, 3) is ~3x slower on
        # CPU), folded into a per-channel scale and shift so that one full-size op (addcmul) remains.
        mean = x.mean(dim=dims, keepdim=True)
        var = ((x * x).mean(dim=dims, keepdim=True) - mean * mean).clamp_min(0.0)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        scale = torch.rsqrt(var + self.eps) * self.weight.view(shape)
        return torch.addcmul(self.bias.view(shape) - mean * scale, x, scale)


def _norm(kind: str, channels: int, dims: int) -> nn.Module:
    if kind == "batch":
        return BatchStatNorm(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(8, channels), channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise UnknownNameError(f"unknown norm {kind!r}; choose one of {', '.join(NORMS)}")


def _head(feature_dim: int, out_features: int | None) -> nn.Module:
    return nn.Identity() if out_features is None else nn.Linear(feature_dim, out_features)


class MLP(nn.Module):
    """Fully connected ReLU network (the MAML sinusoid model is ``MLP(1, (40, 40), 1)``).

    Input ``(batch, in_features)`` -> output ``(batch, out_features)``.
    """

    # `metasuite bench core`: vmap is ~9x faster than the per-task loop for MAML on sinusoid.
    preferred_execution = "vmap"

    def __init__(self, in_features: int, hidden: tuple[int, ...] = (40, 40), out_features: int | None = 1):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.input_shape = (in_features,)
        self.feature_dim = width
        self.head = _head(width, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


class Conv4(nn.Module):
    """The Conv-4 few-shot backbone (Vinyals et al. 2016; Finn et al. 2017).

    Four blocks of ``conv3x3(hidden) -> norm -> ReLU -> maxpool2``; input
    ``(batch, in_channels, image_size, image_size)`` -> logits ``(batch, out_features)``
    (or features ``(batch, feature_dim)`` when ``out_features`` is None).
    """

    # `metasuite bench core` (5-way 1-shot, meta-batch 16): on a 2-core CPU the loop path is ~1.8x faster and needs
    # ~8x less memory than vmap (benchmarks/results/core.json); on an H200 vmap is ~8.6x faster.
    preferred_execution: ClassVar[dict[str, str]] = {"cpu": "loop", "cuda": "vmap"}
    #: Run on CPU in channels-last memory format (oneDNN's convolutions and max-pooling are 1.37x faster forward +
    #: backward, 2.14x forward only: `metasuite bench core`, ``conv4_memory_format``); same values up to float rounding.
    #: Not inside ``torch.func.vmap``, which has no memory formats. ``False`` on an instance: plain NCHW.
    channels_last_on_cpu: ClassVar[bool] = True

    def __init__(
        self,
        in_channels: int = 3,
        out_features: int | None = 5,
        hidden: int = 64,
        image_size: int = 84,
        norm: str = "batch",
    ):
        super().__init__()
        blocks: list[nn.Module] = []
        ch = in_channels
        size = image_size
        for _ in range(4):
            blocks += [
                nn.Conv2d(ch, hidden, 3, padding=1),
                _norm(norm, hidden, 2),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            ch = hidden
            size //= 2
        if size < 1:
            raise ValueError(f"image_size={image_size} is too small for 4 pooling stages (need >= 16)")
        blocks.append(nn.Flatten())
        self.body = nn.Sequential(*blocks)
        self.input_shape = (in_channels, image_size, image_size)
        self.feature_dim = hidden * size * size
        self.head = _head(self.feature_dim, out_features)

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last_on_cpu and x.device.type == "cpu":
            with contextlib.suppress(RuntimeError):  # inside torch.func.vmap, which has no memory formats: as is
                x = x.contiguous(memory_format=torch.channels_last)
        return self.head(self.body(x))


class _CNN1dBody(nn.Module):
    def __init__(
        self, in_channels: int, length: int, n_extra: int, hidden: int, n_blocks: int, norm: str, stem_stride: int = 1
    ):
        super().__init__()
        self.in_channels, self.length, self.n_extra = in_channels, length, n_extra
        blocks: list[nn.Module] = []
        ch = in_channels
        for i in range(n_blocks):
            first = i == 0
            blocks += [
                nn.Conv1d(ch, hidden, 7 if first else 5, stride=stem_stride if first else 1, padding=3 if first else 2),
                _norm(norm, hidden, 1),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            ch = hidden
        self.conv = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool1d(4)
        self.feature_dim = hidden * 4 + n_extra

    def forward(self, x: Tensor) -> Tensor:
        n_signal = self.in_channels * self.length
        signal = x[..., :n_signal].reshape(x.shape[0], self.in_channels, self.length)
        feats = self.pool(self.conv(signal)).flatten(1)
        if self.n_extra:
            feats = torch.cat([feats, x[..., n_signal:]], dim=-1)
        return feats


class CNN1d(nn.Module):
    """1-D CNN for fixed-length signal windows plus optional scalar side features.

    Input ``(batch, in_channels * length + n_extra)``: the flattened signal window (channel-major)
    followed by ``n_extra`` scalar features (e.g. RR intervals) that are concatenated to the
    pooled convolutional features before the head. Output ``(batch, out_features)``.

    ``stem_stride`` > 1 makes the first (7-tap) convolution a learned decimation: stride 3 reads a
    360 Hz ECG window at 120 Hz, which keeps a 0.5-40 Hz band-passed signal and costs a third.
    """

    # Same policy as Conv4 until `metasuite bench` measures it for 1-D signals.
    preferred_execution: ClassVar[dict[str, str]] = {"cpu": "loop", "cuda": "vmap"}

    def __init__(
        self,
        in_channels: int = 1,
        length: int = 256,
        n_extra: int = 0,
        out_features: int | None = 4,
        hidden: int = 32,
        n_blocks: int = 3,
        norm: str = "group",
        stem_stride: int = 1,
    ):
        super().__init__()
        if stem_stride < 1 or length // stem_stride < 2**n_blocks:
            raise ValueError(
                f"stem_stride={stem_stride} leaves {length // max(stem_stride, 1)} samples, too few for "
                f"{n_blocks} pooling blocks (need >= {2**n_blocks}); lower the stride or n_blocks"
            )
        self.body = _CNN1dBody(in_channels, length, n_extra, hidden, n_blocks, norm, stem_stride)
        self.input_shape = (in_channels * length + n_extra,)
        self.feature_dim = self.body.feature_dim
        self.head = _head(self.feature_dim, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


BACKBONES: dict[str, type[nn.Module]] = {"mlp": MLP, "conv4": Conv4, "cnn1d": CNN1d}


@torch.no_grad()
def init_parameters(module: nn.Module, gen: torch.Generator) -> nn.Module:
    """Re-initialise every parameter of ``module`` from ``gen`` (PyTorch's default schemes).

    Linear/Conv weights: Kaiming-uniform with ``a=sqrt(5)``; biases: U(-1/sqrt(fan_in), +);
    norm layers: weight 1, bias 0. Returns ``module`` for chaining.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=gen)
            if m.bias is not None:
                fan_in = m.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                nn.init.uniform_(m.bias, -bound, bound, generator=gen)
        elif isinstance(m, BatchStatNorm | nn.BatchNorm1d | nn.BatchNorm2d | nn.GroupNorm) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


def build_backbone(name: str, *, seed: int = 0, **kwargs: Any) -> nn.Module:
    """Build backbone ``name`` (``mlp``, ``conv4`` or ``cnn1d``) with ``kwargs``, seeded by ``seed``."""
    if name not in BACKBONES:
        raise UnknownNameError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    # Module constructors draw their default init from the global RNG; fork it so that building a
    # backbone leaves the caller's global state untouched, then re-draw from our own generator.
    with torch.random.fork_rng(devices=[]):
        model = BACKBONES[name](**kwargs)
    return init_parameters(model, torch.Generator().manual_seed(seed))
