"""Every query window of an asset at once: the walk-forward predictions of a learned method as one batch.

The walk-forward evaluation covers an asset's test days with consecutive tasks (one every ``query_days``
days, :func:`~metasuite.domains.trading.tasks.walk_forward_starts`). Instead of building and adapting them one by
one, :func:`window_batch` gathers all their support and query rows with one strided view and standardises each
window with its own support statistics (the arithmetic of :func:`~metasuite.domains.trading.features.standardise`),
and :func:`predict_windows` adapts to every window in a single batched call:

* a meta-learner (:class:`~metasuite.core.evaluate.MetaMethod`): its pure ``adapt_fn`` / ``predict_fn`` under
  ``torch.func.vmap`` over the windows (the ``vmap`` path of :meth:`MetaLearner.score`);
* the pooled model: one forward pass over every query row (it does not adapt);
* scratch: one network per window trained by Adam on stacked parameters (Adam is element-wise, so this is each
  window's own training, all at once);
* an ensemble (:class:`~metasuite.core.evaluate.Ensemble`): each member's batch as above, combined by the
  ensemble (class probabilities averaged); with a ``memo`` shared by the methods of one asset, members already
  evaluated as rows of their own are not adapted again;
* any other method (``adapt(task) -> predict``): the tasks one at a time, as before.

Probabilities come back on the asset's day grid, NaN outside the decision days. Shapes: support ``(W, L, F)``,
query ``(W, Q, F)`` for ``W`` windows, ``L`` support days, ``Q`` query days, ``F`` features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import Tensor
from torch.func import functional_call, vmap

from metasuite.core.backbones import build_backbone, vmap_safe
from metasuite.core.baselines import PooledBaseline, ScratchBaseline
from metasuite.core.evaluate import Ensemble, MetaMethod
from metasuite.core.losses import task_loss
from metasuite.core.tasks import derive_seed
from metasuite.domains.trading.features import signed_mask
from metasuite.domains.trading.tasks import AssetSeries, check_embargo, make_task, walk_forward_starts

__all__ = ["WindowBatch", "predict_windows", "window_batch"]


@dataclass
class WindowBatch:
    """The walk-forward windows of one asset over days ``[lo, hi)``.

    ``starts`` ``(W,)`` first query day of each window; ``n_days`` ``(W,)`` its query days inside ``[lo, hi)`` (the
    last may be short; its padded rows are zero); ``support_x`` ``(W, L, F)`` / ``support_y`` ``(W, L)`` and
    ``query_x`` ``(W, Q, F)``, standardised with each window's support only.
    """

    starts: np.ndarray
    n_days: np.ndarray
    support_x: Tensor
    support_y: Tensor
    query_x: Tensor

    def __len__(self) -> int:
        return len(self.starts)


def window_batch(series: AssetSeries, lo: int, hi: int, support: int, query: int, embargo: int) -> WindowBatch:
    """The windows of ``series`` covering ``[lo, hi)`` (see :class:`WindowBatch`); the same rows, labels and
    scaling as :func:`~metasuite.domains.trading.tasks.make_task` for each start (tested)."""
    check_embargo(embargo, series.target)
    starts = walk_forward_starts(series, lo, hi, support, query, embargo)
    n_feat = series.x.shape[1]
    if len(starts) == 0:
        empty = torch.zeros((0, support, n_feat))
        return WindowBatch(starts, starts.copy(), empty, torch.zeros((0, support), dtype=torch.long), empty[:, :0])
    x = series.x.astype(np.float64)
    s0 = starts - embargo - support
    sx = sliding_window_view(x, support, axis=0)[s0].transpose(0, 2, 1)  # (W, L, F)
    n_days = np.minimum(query, np.minimum(hi, len(series.dates)) - starts)
    pad = np.vstack([x, np.zeros((query, n_feat))])
    qx = sliding_window_view(pad, query, axis=0)[starts].transpose(0, 2, 1).copy()  # (W, Q, F)
    qx[np.arange(query)[None, :] >= n_days[:, None]] = 0.0
    signed = signed_mask(n_feat)
    mean = np.where(signed, 0.0, sx.mean(axis=1))  # (W, F)
    sd = np.sqrt(((sx - mean[:, None, :]) ** 2).mean(axis=1))
    sd = np.where(sd > 1e-8, sd, 1.0)
    sxs = np.clip((sx - mean[:, None, :]) / sd[:, None, :], -5.0, 5.0)
    qxs = np.clip((qx - mean[:, None, :]) / sd[:, None, :], -5.0, 5.0)
    qxs[np.arange(query)[None, :] >= n_days[:, None]] = 0.0
    sy = sliding_window_view(series.y, support)[s0]
    return WindowBatch(
        starts,
        n_days,
        torch.from_numpy(sxs.astype(np.float32)),
        torch.from_numpy(sy.copy()),
        torch.from_numpy(qxs.astype(np.float32)),
    )


def _meta_logits(method: MetaMethod, batch: WindowBatch) -> Tensor:
    learner = method.learner
    steps = learner.test_inner_steps if method.steps is None else int(method.steps)
    params = {k: v.detach() for k, v in learner.params().items()}

    def one(sx: Tensor, sy: Tensor, qx: Tensor) -> Tensor:
        state = learner.adapt_fn(params, sx, sy, None, steps, create_graph=False)
        return learner.predict_fn(params, state, qx)

    with torch.no_grad():  # torch.func.grad still differentiates the inner loop
        logits = vmap_safe(one, in_dims=(0, 0, 0))(batch.support_x, batch.support_y, batch.query_x)
    return logits if method.bias is None else logits + method.bias


def _scratch_logits(method: ScratchBaseline, batch: WindowBatch) -> Tensor:
    domain, cfg = method.domain, method.config
    name, kwargs = domain.backbone_spec("scratch", method.n_way)
    model = build_backbone(name, seed=derive_seed(cfg.seed, "scratch"), **{**kwargs, "out_features": method.n_way})
    w = len(batch)
    params = {k: v.detach().expand(w, *v.shape).clone().requires_grad_(True) for k, v in model.named_parameters()}

    def loss_one(p: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        return task_loss(functional_call(model, p, (x,)), y, domain.kind, None, balanced=cfg.balanced)

    opt = torch.optim.Adam(list(params.values()), lr=cfg.scratch_lr)
    with torch.enable_grad():
        for _ in range(cfg.scratch_steps):
            opt.zero_grad(set_to_none=True)
            vmap(loss_one)(params, batch.support_x, batch.support_y).sum().backward()
            opt.step()
    with torch.no_grad():
        return vmap(lambda p, x: functional_call(model, p, (x,)))(params, batch.query_x)


def _task_logits(
    method: Any, series: AssetSeries, batch: WindowBatch, support: int, query: int, embargo: int
) -> Tensor:
    """Any method with ``adapt(task) -> predict``, one task at a time (the walk-forward's original loop)."""
    out = []
    for t in batch.starts:
        task = make_task(series, int(t), support, query, embargo, "test")
        with torch.enable_grad():
            predict = method.adapt(task)
        with torch.no_grad():
            logits = predict(task.query_x)
        pad = query - logits.shape[0]
        out.append(torch.cat([logits, logits.new_zeros((pad, logits.shape[1]))]) if pad else logits)
    return torch.stack(out)


def window_logits(
    method: Any,
    series: AssetSeries,
    batch: WindowBatch,
    support: int,
    query: int,
    embargo: int,
    memo: dict[int, Tensor] | None = None,
) -> Tensor:
    """Logits ``(W, Q, C)`` of ``method`` adapted to each window of ``batch`` (padded rows are meaningless).

    ``memo`` (``id(method) -> logits``, for one asset's windows) keeps every result, so an ensemble reuses the
    logits of members computed before it instead of adapting them again."""
    if memo is not None and id(method) in memo:
        return memo[id(method)]
    if isinstance(method, Ensemble):  # each member adapts on its own; log of the averaged probabilities
        members = [window_logits(m, series, batch, support, query, embargo, memo) for m in method.members]
        out = method.combine(members)
    elif isinstance(method, MetaMethod) and not method.finetune_steps and not method.learner.any_way:
        out = _meta_logits(method, batch)
    elif isinstance(method, PooledBaseline) and method.fixed_label_space:
        with torch.no_grad():
            flat = method.pretrained(batch.query_x.reshape(-1, batch.query_x.shape[-1]))
        out = flat.reshape(*batch.query_x.shape[:2], -1)
    elif isinstance(method, ScratchBaseline) and method.domain.kind == "classification":
        out = _scratch_logits(method, batch)
    else:
        out = _task_logits(method, series, batch, support, query, embargo)
    if memo is not None:
        memo[id(method)] = out
    return out


def predict_windows(
    method: Any,
    series: AssetSeries,
    lo: int,
    hi: int,
    support: int,
    query: int,
    embargo: int,
    memo: dict[int, Tensor] | None = None,
) -> tuple[np.ndarray, list[float]]:
    """``(probs, accuracies)``: class probabilities ``(n_days, C)`` of ``method`` on every day of ``series``
    (NaN outside the decision days of ``[lo, hi)``), each from the window whose support precedes it, and each
    window's accuracy on its days with a realised outcome. ``memo``: shared by the methods of one asset and one
    ``[lo, hi)`` (:func:`window_logits`)."""
    batch = window_batch(series, lo, hi, support, query, embargo)
    n_classes = series.target.n_classes
    probs = np.full((len(series.dates), n_classes), np.nan)
    if not len(batch):
        return probs, []
    logits = window_logits(method, series, batch, support, query, embargo, memo)
    p = torch.softmax(logits.double(), dim=-1).numpy()
    accs = []
    y, known = series.y, series.known
    for w, (t, n) in enumerate(zip(batch.starts.tolist(), batch.n_days.tolist())):
        probs[t : t + n] = p[w, :n]
        ok = known[t : t + n]
        if ok.any():
            accs.append(float((p[w, :n][ok].argmax(axis=-1) == y[t : t + n][ok]).mean()))
    return probs, accs
