"""Every meta-learner through one contract, plus the math of each algorithm against references.

Agreement and reference tests run in float64 so that their tolerances measure the math, not
float32 round-off; the bugs they guard against (a wrong batching rule, a missing second-order
term, an off-by-one inner step) show up as relative errors of 1e-3 and more.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import (
    VECTOR_DIM,
    GaussianClassSampler,
    flat,
    gen,
    grads_of,
    image_backbone,
    rel_err,
    sine_backbone,
    vector_backbone,
)
from torch import Tensor, nn
from torch.func import functional_call

from metasuite.core.algorithms import (
    ALGORITHMS,
    ANIL,
    MAML,
    MetaLearner,
    MetaSGD,
    ProtoNet,
    Reptile,
    build_learner,
    get_algorithm,
)
from metasuite.core.errors import TaskError, UnknownNameError
from metasuite.core.losses import task_loss
from metasuite.core.tasks import Task, TaskBatch

ALGOS = sorted(ALGORITHMS)
REGRESSION_ALGOS = [n for n in ALGOS if ALGORITHMS[n].supports_regression]
GRADIENT_ALGOS = [n for n in ALGOS if ALGORITHMS[n].has_inner_loop]  # those with an inner gradient loop
N_WAY = 3


def classifier(name: str, *, norm: str = "group", seed: int = 0, **hparams) -> MetaLearner:
    """Algorithm ``name`` on a tiny Conv-4 for 3-way 1x16x16 tasks."""
    bb = image_backbone(N_WAY if ALGORITHMS[name].uses_head else None, norm=norm, seed=seed)
    return build_learner(name, bb, **{"n_way": N_WAY, "inner_lr": 0.1, "inner_steps": 1, **hparams})


def regressor(name: str, *, seed: int = 0, **hparams) -> MetaLearner:
    """Algorithm ``name`` on an MLP 1-16-16-1 for sine regression."""
    return build_learner(
        name, sine_backbone(seed), **{"kind": "regression", "inner_lr": 0.05, "inner_steps": 1, **hparams}
    )


def snapshot(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def double(batch: TaskBatch) -> TaskBatch:
    """The batch with float tensors in float64."""
    conv = lambda t: None if t is None else (t.double() if t.is_floating_point() else t)
    return TaskBatch(
        conv(batch.support_x),
        conv(batch.support_y),
        conv(batch.query_x),
        conv(batch.query_y),
        batch.support_mask,
        batch.query_mask,
        batch.metadata,
    )


def meta_grads(learner: MetaLearner, batch: TaskBatch) -> dict[str, Tensor]:
    learner.zero_grad(set_to_none=True)
    learner.meta_backward(batch)
    return grads_of(learner)


def assert_contract(learner: MetaLearner, twin: MetaLearner, batch: TaskBatch, out_shape: tuple[int, ...]) -> None:
    """The properties every meta-learner must have on ``batch`` (``twin``: same seed and settings)."""
    before = snapshot(learner)

    # meta_backward: finite loss/metric and a finite .grad on every meta-parameter
    stats = learner.meta_backward(batch)
    assert set(stats) >= {"loss", "metric"}
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values()), stats
    for k, p in learner.named_parameters():
        assert p.grad is not None, f"{k} got no meta-gradient"
        assert torch.isfinite(p.grad).all(), f"{k} has a non-finite meta-gradient"
    assert float(flat(grads_of(learner)).norm()) > 0

    # adapt(...).predict(query_x) has the right shape and adapt changes no meta-parameter
    task = batch[0]
    adapted = learner.adapt(task.support_x, task.support_y, task.support_mask)
    pred = adapted.predict(task.query_x)
    assert pred.shape == (task.n_query, *out_shape)
    assert torch.isfinite(pred).all()
    assert not pred.requires_grad
    after = snapshot(learner)
    assert all(torch.equal(before[k], after[k]) for k in before), "meta_backward/adapt modified meta-parameters"

    # score(batch): one finite value per task
    scores = learner.score(batch)
    assert scores.shape == (len(batch),)
    assert torch.isfinite(scores).all()
    if learner.kind == "classification":
        assert ((scores >= 0) & (scores <= 1)).all()

    # deterministic: a learner built with the same seed computes identical results
    twin.meta_backward(batch)
    for (k, p), (_, q) in zip(learner.named_parameters(), twin.named_parameters(), strict=True):
        assert torch.equal(p.grad, q.grad), f"meta-gradient of {k} is not reproducible"
    assert torch.equal(twin.score(batch), scores)
    assert torch.equal(twin.adapt(task.support_x, task.support_y, task.support_mask).predict(task.query_x), pred)

    # a few outer Adam steps on a fixed batch lower the query loss after adaptation
    opt = torch.optim.Adam(learner.parameters(), lr=1e-2)
    first = None
    for _ in range(10):
        opt.zero_grad(set_to_none=True)
        loss = learner.meta_backward(batch)["loss"]
        first = loss if first is None else first
        opt.step()
    opt.zero_grad(set_to_none=True)
    last = learner.meta_backward(batch)["loss"]
    assert last < first, f"{learner.name}: query loss did not decrease ({first:.4f} -> {last:.4f})"


@pytest.mark.parametrize("name", ALGOS)
def test_every_algorithm_meets_the_classification_contract(name: str, image_batch: TaskBatch) -> None:
    assert_contract(classifier(name), classifier(name), image_batch, (N_WAY,))


@pytest.mark.parametrize("name", REGRESSION_ALGOS)
def test_every_regression_algorithm_meets_the_regression_contract(name: str, sine_batch: TaskBatch) -> None:
    assert_contract(regressor(name), regressor(name), sine_batch, (1,))


def test_protonet_refuses_regression_with_a_clear_error() -> None:
    assert not ProtoNet.supports_regression
    with pytest.raises(TaskError, match="protonet only supports classification"):
        build_learner("protonet", sine_backbone(), kind="regression")


# ----------------------------------------------------------------------------- vmap == loop
BATCHES = ["sine", "sine-ragged", "conv-batchnorm", "conv-groupnorm", "conv-batchnorm-ragged", "conv-groupnorm-ragged"]


def _cases(kinds: list[str]) -> list[tuple[str, str]]:
    """(algorithm, batch kind) pairs; regression kinds only for algorithms that support regression."""
    return [(n, k) for n in ALGOS for k in kinds if n in REGRESSION_ALGOS or not k.startswith(("sine", "mlp"))]


@pytest.mark.parametrize(("name", "which"), _cases(BATCHES))
def test_vmap_and_loop_compute_the_same_meta_gradient(name: str, which: str, request: pytest.FixtureRequest) -> None:
    if which.startswith("sine"):
        batch = request.getfixturevalue("ragged_sine_batch" if which.endswith("ragged") else "sine_batch")
        build = lambda ex: regressor(name, execution=ex, inner_steps=2)
    else:
        batch = request.getfixturevalue("ragged_image_batch" if which.endswith("ragged") else "image_batch")
        norm = "batch" if "batchnorm" in which else "group"
        build = lambda ex: classifier(name, norm=norm, execution=ex, inner_steps=2)
    batch = double(batch)
    learners = {ex: build(ex).double() for ex in ("vmap", "loop")}
    stats = {}
    grads = {}
    for ex, learner in learners.items():
        stats[ex] = learner.meta_backward(batch)
        grads[ex] = flat(grads_of(learner))
    assert rel_err(grads["vmap"], grads["loop"]) <= 1e-5
    assert stats["vmap"]["loss"] == pytest.approx(stats["loop"]["loss"], rel=1e-9)
    assert stats["vmap"]["metric"] == pytest.approx(stats["loop"]["metric"], rel=1e-9)
    assert torch.allclose(learners["vmap"].score(batch), learners["loop"].score(batch), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("name", "backbone"), _cases(["mlp", "conv-groupnorm"]))
def test_padding_does_not_change_the_meta_gradient(
    name: str, backbone: str, ragged_sine_batch: TaskBatch, ragged_image_batch: TaskBatch
) -> None:
    # The meta-gradient of a padded batch is the mean of the tasks' meta-gradients computed
    # unpadded, one task at a time. (With norm="batch" padding enters the batch statistics, a
    # documented limitation, so that norm is not part of this property.)
    if backbone == "mlp":
        build, batch = lambda: regressor(name, inner_steps=2), ragged_sine_batch
    else:
        build, batch = lambda: classifier(name, inner_steps=2), ragged_image_batch
    batch = double(batch)
    padded = flat(meta_grads(build().double(), batch))
    per_task = []
    for i in range(len(batch)):
        t = batch[i]
        real = Task(
            t.support_x[t.support_mask], t.support_y[t.support_mask], t.query_x[t.query_mask], t.query_y[t.query_mask]
        )
        per_task.append(flat(meta_grads(build().double(), TaskBatch.stack([real]))))
    assert rel_err(padded, torch.stack(per_task).mean(0)) <= 1e-8


# ----------------------------------------------------------------------------- second order
def reference_maml_grads(
    module: nn.Module, batch: TaskBatch, kind: str, lr: float, steps: int, first_order: bool
) -> dict[str, Tensor]:
    """MAML meta-gradient written out with ``torch.autograd.grad`` on a plain module, task by task."""
    loss_fn = F.mse_loss if kind == "regression" else F.cross_entropy
    theta = {k: v.detach().clone().requires_grad_() for k, v in module.named_parameters()}
    total = 0.0
    for i in range(len(batch)):
        t = batch[i]
        fast = dict(theta)
        for _ in range(steps):
            loss = loss_fn(functional_call(module, fast, (t.support_x,)), t.support_y)
            g = torch.autograd.grad(loss, list(fast.values()), create_graph=not first_order)
            fast = {k: v - lr * (gi.detach() if first_order else gi) for (k, v), gi in zip(fast.items(), g)}
        total = total + loss_fn(functional_call(module, fast, (t.query_x,)), t.query_y) / len(batch)
    g = torch.autograd.grad(total, list(theta.values()))
    return {"backbone." + k: gi for k, gi in zip(theta, g, strict=True)}


def plain_mlp(learner: MetaLearner) -> nn.Module:
    """An ordinary ``nn.Sequential`` MLP holding the learner's backbone weights (1-16-16-1)."""
    net = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1)).double()
    src = [p.detach() for p in learner.backbone.parameters()]
    with torch.no_grad():
        for p, s in zip(net.parameters(), src, strict=True):
            p.copy_(s)
    return net


def plain_conv4_batchnorm(learner: MetaLearner) -> nn.Module:
    """torch's own layers (``nn.BatchNorm2d`` without running stats) with the learner's weights."""
    blocks: list[nn.Module] = []
    ch = 1
    for _ in range(4):
        blocks += [
            nn.Conv2d(ch, 8, 3, padding=1),
            nn.BatchNorm2d(8, track_running_stats=False),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        ch = 8
    net = nn.Sequential(*blocks, nn.Flatten(), nn.Linear(8, N_WAY)).double()
    with torch.no_grad():
        for p, s in zip(net.parameters(), learner.backbone.parameters(), strict=True):
            p.copy_(s.detach())
    return net


def reference_and_learner(reference: dict[str, Tensor], learner: MetaLearner) -> tuple[Tensor, Tensor]:
    """Both meta-gradients flattened (the plain module's parameter order equals the backbone's)."""
    return torch.cat([g.flatten() for g in reference.values()]), torch.cat(
        [p.grad.flatten() for k, p in learner.named_parameters() if k.startswith("backbone.")]
    )


@pytest.mark.parametrize("execution", ["vmap", "loop"])
@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("name", ["maml", "fomaml"])
def test_maml_meta_gradient_equals_a_hand_written_reference(
    name: str, steps: int, execution: str, sine_batch: TaskBatch
) -> None:
    learner = regressor(name, inner_steps=steps, execution=execution).double()
    batch = double(sine_batch)
    learner.meta_backward(batch)
    ref = reference_maml_grads(
        plain_mlp(learner), batch, "regression", learner.inner_lr, steps, first_order=(name == "fomaml")
    )
    expected, got = reference_and_learner(ref, learner)
    assert rel_err(got, expected) <= 1e-10


@pytest.mark.parametrize("execution", ["vmap", "loop"])
def test_maml_through_batchnorm_equals_torch_batchnorm_reference(execution: str, image_batch: TaskBatch) -> None:
    # guards the vmap path against torch's wrong batching rule for batch-norm double backward
    learner = classifier("maml", norm="batch", execution=execution, inner_steps=2).double()
    batch = double(image_batch)
    learner.meta_backward(batch)
    ref = reference_maml_grads(
        plain_conv4_batchnorm(learner), batch, "classification", learner.inner_lr, 2, first_order=False
    )
    expected, got = reference_and_learner(ref, learner)
    assert rel_err(got, expected) <= 1e-8


def test_maml_and_fomaml_meta_gradients_differ(sine_batch: TaskBatch) -> None:
    batch = double(sine_batch)
    second = flat(meta_grads(regressor("maml", inner_steps=2).double(), batch))
    first = flat(meta_grads(regressor("fomaml", inner_steps=2).double(), batch))
    assert rel_err(first, second) > 1e-3
    # MAML(first_order=True) is FOMAML
    fo = flat(meta_grads(regressor("maml", inner_steps=2, first_order=True).double(), batch))
    assert torch.equal(fo, first)


def test_fomaml_refuses_second_order() -> None:
    with pytest.raises(ValueError, match="first-order by definition"):
        ALGORITHMS["fomaml"](sine_backbone(), kind="regression", first_order=False)


# ----------------------------------------------------------------------------- Meta-SGD
def test_metasgd_with_equal_rates_adapts_like_maml_and_learns_its_rates(sine_batch: TaskBatch) -> None:
    batch = double(sine_batch)
    msgd = regressor("metasgd", inner_steps=1)
    lrs = dict(msgd.lrs.named_parameters())
    shapes = {k.replace(".", "__"): p.shape for k, p in msgd.backbone.named_parameters()}
    assert {k: v.shape for k, v in lrs.items()} == shapes  # one rate per scalar parameter
    assert all(torch.all(v == torch.tensor(msgd.inner_lr)) for v in lrs.values())  # initialised to inner_lr
    msgd = msgd.double()
    with torch.no_grad():  # exactly inner_lr in float64 too
        for v in msgd.lrs.parameters():
            v.fill_(msgd.inner_lr)
    maml = regressor("maml", inner_steps=1).double()
    assert isinstance(msgd, MetaSGD) and isinstance(maml, MAML)

    t = batch[0]
    a, b = msgd.adapt(t.support_x, t.support_y, steps=3), maml.adapt(t.support_x, t.support_y, steps=3)
    assert a.state.keys() == b.state.keys()
    assert all(torch.allclose(a.state[k], b.state[k], rtol=0, atol=1e-14) for k in a.state)

    g_msgd, g_maml = meta_grads(msgd, batch), meta_grads(maml, batch)
    for k, g in g_maml.items():
        assert torch.allclose(g_msgd[k], g, rtol=1e-12, atol=1e-14), k

    # one inner step: phi = theta - alpha * g_s, so dL_q/d alpha = -g_s * dL_q/d phi (mean over tasks)
    expected = {k: torch.zeros_like(v) for k, v in msgd.backbone.named_parameters()}
    for i in range(len(batch)):
        ti = batch[i]
        theta = {k: v.detach().clone().requires_grad_() for k, v in msgd.backbone.named_parameters()}
        g_s = torch.autograd.grad(
            task_loss(functional_call(msgd.backbone, theta, (ti.support_x,)), ti.support_y, "regression"),
            list(theta.values()),
        )
        phi = {k: (v - msgd.inner_lr * g).detach().requires_grad_() for (k, v), g in zip(theta.items(), g_s)}
        g_q = torch.autograd.grad(
            task_loss(functional_call(msgd.backbone, phi, (ti.query_x,)), ti.query_y, "regression"), list(phi.values())
        )
        for (k, _), gs, gq in zip(theta.items(), g_s, g_q, strict=True):
            expected[k] += -gs * gq / len(batch)
    for k, v in expected.items():
        got = g_msgd["lrs." + k.replace(".", "__")]
        assert float(got.norm()) > 0
        assert torch.allclose(got, v, rtol=1e-10, atol=1e-14), k


def test_metasgd_uses_its_learned_rates(sine_batch: TaskBatch) -> None:
    msgd, maml = regressor("metasgd"), regressor("maml")
    with torch.no_grad():
        for p in msgd.lrs.parameters():
            p.mul_(3.0)
    t = sine_batch[0]
    a, b = msgd.adapt(t.support_x, t.support_y), maml.adapt(t.support_x, t.support_y)
    theta = msgd.params()
    # three times the step: phi - theta triples
    for k in b.state:
        assert torch.allclose(a.state[k] - theta[k], 3 * (b.state[k] - theta[k]), rtol=1e-4, atol=1e-7), k


def test_metasgd_can_meta_learn_its_rates_only(sine_batch: TaskBatch) -> None:
    """``learn_init=False``: the rates get exactly the meta-gradient they get with a learned initialisation, the
    initialisation gets none, and an optimiser step leaves it bit for bit as it was (issue 15: learn how to fine-tune
    a pre-trained network without moving the network towards the few training tasks)."""
    free, frozen = regressor("metasgd", inner_steps=2), regressor("metasgd", inner_steps=2, learn_init=False)
    assert frozen.hparams()["learn_init"] is False and free.hparams()["learn_init"] is True
    g_free, g_frozen = meta_grads(free, sine_batch), meta_grads(frozen, sine_batch)
    rates = {k for k in g_free if k.startswith("lrs.")}
    assert rates and {k for k, g in g_frozen.items() if g is not None} == rates  # nothing for backbone.*
    for k in rates:
        assert torch.allclose(g_frozen[k], g_free[k], rtol=1e-6, atol=1e-9), k
    init, lrs = snapshot(frozen.backbone), snapshot(frozen.lrs)
    opt = torch.optim.Adam(frozen.parameters(), lr=0.01)
    opt.step()
    assert all(torch.equal(v, init[k]) for k, v in frozen.backbone.state_dict().items())
    assert any(not torch.equal(v, lrs[k]) for k, v in frozen.lrs.state_dict().items())


# ----------------------------------------------------------------------------- ANIL
def test_anil_adapts_only_the_head(image_batch: TaskBatch) -> None:
    learner = classifier("anil", inner_steps=3)
    assert isinstance(learner, ANIL)
    t = image_batch[0]
    adapted = learner.adapt(t.support_x, t.support_y)
    params = learner.params()
    head = {k for k in params if k.startswith("backbone.head.")}
    assert set(adapted.state) == head
    assert all(not torch.equal(adapted.state[k], params[k]) for k in head), "the head did not move"
    # prediction = meta-learned body, adapted head
    with torch.no_grad():
        feats = learner.backbone.body(t.query_x)
        expected = F.linear(feats, adapted.state["backbone.head.weight"], adapted.state["backbone.head.bias"])
    assert torch.allclose(adapted.predict(t.query_x), expected, atol=1e-6)


# ----------------------------------------------------------------------------- Reptile
@pytest.mark.parametrize("n_tasks", [1, 3])
def test_reptile_meta_gradient_is_theta_minus_phi_of_plain_sgd(n_tasks: int, sine_batch: TaskBatch) -> None:
    learner = regressor("reptile", inner_steps=4, inner_lr=0.05).double()
    assert isinstance(learner, Reptile)
    batch = double(TaskBatch.stack([sine_batch[i] for i in range(n_tasks)]))
    learner.meta_backward(batch)
    theta = [p.detach().clone() for p in learner.backbone.parameters()]
    mean_phi = [torch.zeros_like(p) for p in theta]
    for i in range(n_tasks):
        t = batch[i]
        net = copy.deepcopy(learner.backbone)
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        for _ in range(4):
            opt.zero_grad()
            F.mse_loss(net(t.support_x), t.support_y).backward()
            opt.step()
        for m, p in zip(mean_phi, net.parameters(), strict=True):
            m += p.detach() / n_tasks
    for (k, p), th, ph in zip(learner.backbone.named_parameters(), theta, mean_phi, strict=True):
        assert torch.allclose(p.grad, th - ph, rtol=1e-10, atol=1e-13), k


# ----------------------------------------------------------------------------- ProtoNet
def test_protonet_prototypes_are_class_means_of_embeddings(image_batch: TaskBatch) -> None:
    learner = classifier("protonet")
    t = image_batch[1]
    adapted = learner.adapt(t.support_x, t.support_y)
    with torch.no_grad():
        emb = learner.backbone(t.support_x)
        means = torch.stack([emb[t.support_y == c].mean(0) for c in range(N_WAY)])
        q = learner.backbone(t.query_x)
    assert torch.allclose(adapted.state["prototypes"], means, atol=1e-6)
    # logits are negative squared distances to the prototypes
    assert torch.allclose(adapted.predict(t.query_x), -(torch.cdist(q, means) ** 2), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_protonet_never_predicts_a_class_absent_from_support(scale: float) -> None:
    # scale=1000 makes squared distances far larger than any fixed logit penalty
    learner = build_learner("protonet", vector_backbone(None), n_way=N_WAY, every_class_in_support=False)
    t = GaussianClassSampler((VECTOR_DIM,), noise=0.1).sample(gen(0))
    keep = t.support_y != 2
    sx, sy = t.support_x[keep] * scale, t.support_y[keep]
    queries = torch.cat([t.query_x * scale, torch.zeros(2, VECTOR_DIM)])  # incl. the absent class's own examples
    pred = learner.adapt(sx, sy).predict(queries)
    assert torch.isfinite(pred).all()
    assert not (pred.argmax(-1) == 2).any()
    # training on such a task stays finite too
    batch = TaskBatch.stack([Task(sx, sy, t.query_x[t.query_y != 2] * scale, t.query_y[t.query_y != 2])])
    stats = learner.meta_backward(batch)
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
    assert all(torch.isfinite(p.grad).all() for p in learner.parameters())


# ----------------------------------------------------------------------------- test-time steps
@pytest.mark.parametrize("name", GRADIENT_ALGOS)
def test_test_inner_steps_is_honoured(name: str, image_batch: TaskBatch) -> None:
    learner = classifier(name, inner_steps=1, test_inner_steps=3)
    t = image_batch[0]
    default = learner.adapt(t.support_x, t.support_y).predict(t.query_x)
    three = learner.adapt(t.support_x, t.support_y, steps=3).predict(t.query_x)
    one = learner.adapt(t.support_x, t.support_y, steps=1).predict(t.query_x)
    assert torch.equal(default, three)
    assert not torch.allclose(default, one)
    zero = learner.adapt(t.support_x, t.support_y, steps=0).predict(t.query_x)
    if learner.uses_head:  # zero steps: the meta-learned model itself
        with torch.no_grad():
            assert torch.allclose(zero, learner.backbone(t.query_x), atol=1e-6)
    else:  # zero steps of a head fitted from zero: no preference for any class yet
        assert torch.allclose(zero, torch.zeros_like(zero))
    assert torch.equal(learner.score(image_batch), learner.score(image_batch, steps=3))


# ----------------------------------------------------------------------------- bad input
def test_wrong_input_shape_names_the_expected_shape(image_batch: TaskBatch) -> None:
    learner = classifier("maml")
    big = GaussianClassSampler((1, 28, 28)).sample(gen(0))
    with pytest.raises(TaskError, match=r"support_x examples have shape \(1, 28, 28\).*expects \(1, 16, 16\)"):
        learner.meta_backward(TaskBatch.stack([big]))
    with pytest.raises(TaskError, match=r"support_x examples have shape \(1, 28, 28\).*expects \(1, 16, 16\)"):
        learner.score(TaskBatch.stack([big]))
    with pytest.raises(TaskError, match=r"support_x examples have shape \(1, 28, 28\).*expects \(1, 16, 16\)"):
        learner.adapt(big.support_x, big.support_y)
    t = image_batch[0]
    adapted = learner.adapt(t.support_x, t.support_y)
    with pytest.raises(TaskError, match=r"query_x examples have shape \(1, 28, 28\).*expects \(1, 16, 16\)"):
        adapted.predict(big.query_x)


def test_labels_outside_n_way_are_rejected(image_batch: TaskBatch) -> None:
    learner = classifier("maml")
    t = image_batch[0]
    bad = t.support_y.clone()
    bad[0] = N_WAY
    with pytest.raises(TaskError, match=f"n_way={N_WAY}"):
        learner.adapt(t.support_x, bad)
    batch = TaskBatch.stack([Task(t.support_x, t.support_y, t.query_x, t.query_y + N_WAY)])
    with pytest.raises(TaskError, match=r"query_y has labels in \[3, 5\]"):
        learner.meta_backward(batch)


def test_regression_targets_must_be_float(sine_batch: TaskBatch) -> None:
    t = sine_batch[0]
    with pytest.raises(TaskError, match="regression targets must be floating point"):
        regressor("maml").adapt(t.support_x, t.support_y.long())


def test_unknown_algorithm_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        build_learner("mamll", sine_backbone(), kind="regression")
    msg = str(info.value)
    assert "'mamll'" in msg
    assert all(name in msg for name in ALGOS)
    # spelling variants of known names are accepted
    assert get_algorithm("Meta-SGD") is MetaSGD and get_algorithm("MAML") is MAML


def test_bad_hyperparameters_are_rejected() -> None:
    with pytest.raises(UnknownNameError, match="unknown execution"):
        regressor("maml", execution="threads")
    with pytest.raises(ValueError, match="inner_steps"):
        regressor("maml", inner_steps=-1)
    with pytest.raises(UnknownNameError, match="unknown task kind"):
        build_learner("maml", sine_backbone(), kind="ranking")


@pytest.mark.slow
def test_compiled_meta_step_matches_eager() -> None:
    """torch.compile of the vmap meta-objective is an optimisation only: same meta-gradient."""
    from metasuite.core.backbones import build_backbone
    from metasuite.core.tasks import generator, sample_batch
    from metasuite.domains.sinusoid import SinusoidSampler

    batch = sample_batch(SinusoidSampler("train", 5, 5), 4, generator(3))
    grads = []
    for compiled in (False, True):
        learner = build_learner("maml", build_backbone("mlp", in_features=1, out_features=1, seed=1), kind="regression")
        learner.compile_meta_step(compiled)
        learner.meta_backward(batch)
        grads.append({k: p.grad.clone() for k, p in learner.named_parameters()})
    for k in grads[0]:
        assert torch.allclose(grads[0][k], grads[1][k], rtol=1e-5, atol=1e-6), k


def test_batchstatnorm_plain_path_under_vmap_equals_fused_path() -> None:
    # BatchStatNorm runs torch's fused kernel outside vmap and plain ops under vmap_safe: same function
    from metasuite.core.backbones import BatchStatNorm, vmap_safe

    g = torch.Generator().manual_seed(0)
    norm = BatchStatNorm(4).double()
    with torch.no_grad():
        norm.weight.copy_(torch.rand(4, generator=g, dtype=torch.float64) + 0.5)
        norm.bias.copy_(torch.randn(4, generator=g, dtype=torch.float64))
    x = 3.0 + 2.0 * torch.randn(3, 6, 4, 5, 5, generator=g, dtype=torch.float64)  # 3 tasks of 6 examples
    fused = torch.stack([norm(xi) for xi in x])
    plain = vmap_safe(norm, in_dims=0)(x)
    torch.testing.assert_close(plain, fused, rtol=1e-10, atol=1e-10)
    reference = nn.BatchNorm2d(4, track_running_stats=False).double()
    reference.load_state_dict(norm.state_dict())
    torch.testing.assert_close(fused[0], reference(x[0]), rtol=1e-12, atol=1e-12)


def test_cnn1d_stem_stride_decimates_the_signal_and_rejects_too_short_windows() -> None:
    from metasuite.core.backbones import build_backbone

    kw = {"in_channels": 1, "length": 252, "n_extra": 5, "n_blocks": 4, "out_features": 4}
    model = build_backbone("cnn1d", stem_stride=3, **kw)
    x = torch.randn(6, 257)
    assert model(x).shape == (6, 4)
    # the first convolution reads every third sample: the output after it has a third of the length
    stem = model.body.conv[0]
    assert stem(x[:, :252].reshape(6, 1, 252)).shape[-1] == 84
    # the RR side features still reach the head: changing them changes the output
    x2 = x.clone()
    x2[:, -5:] += 1.0
    assert not torch.allclose(model(x), model(x2))
    with pytest.raises(ValueError, match="stem_stride"):
        build_backbone("cnn1d", stem_stride=20, **kw)


# ----------------------------------------------------------------------------- closed-form and metric heads
def test_r2d2_head_is_the_ridge_solution_in_both_forms(image_batch: TaskBatch) -> None:
    """The Woodbury (n <= d) and the primal (n > d) solves give the same W, equal to the normal equations'."""
    learner = classifier("r2d2").double()
    t = double(image_batch)[0]
    params = {k: v.detach() for k, v in learner.params().items()}
    w = learner.adapt_fn(params, t.support_x, t.support_y, None, 0, False)["w"]
    x = learner.forward_backbone(params, t.support_x).flatten(1)
    y = torch.nn.functional.one_hot(t.support_y, N_WAY).double()
    lam = params["log_lambda"].exp()
    reference = torch.linalg.lstsq(x.T @ x + lam * torch.eye(x.shape[1], dtype=x.dtype), x.T @ y).solution
    assert torch.allclose(w, reference, atol=1e-8)
    many = torch.cat([t.support_x] * 40)  # more examples than feature dimensions: the primal branch
    w_many = learner.adapt_fn(params, many, torch.cat([t.support_y] * 40), None, 0, False)["w"]
    x_many = learner.forward_backbone(params, many).flatten(1)
    assert x_many.shape[0] > x_many.shape[1]
    ref_many = torch.linalg.lstsq(
        x_many @ x_many.T + lam * torch.eye(x_many.shape[0], dtype=x.dtype), torch.cat([y] * 40)
    ).solution
    assert torch.allclose(w_many, x_many.T @ ref_many, atol=1e-6)


def test_metaoptnet_head_converges_to_the_regularised_logistic_regression_optimum(image_batch: TaskBatch) -> None:
    """Enough Nesterov steps reach the optimum: the closed-form gradient of the head's objective vanishes."""
    learner = classifier("metaoptnet").double()
    t = double(image_batch)[0]
    params = {k: v.detach() for k, v in learner.params().items()}
    state = learner.adapt_fn(params, t.support_x, t.support_y, None, 500, False)
    x = torch.nn.functional.normalize(learner.forward_backbone(params, t.support_x).flatten(1), dim=-1)
    y = torch.nn.functional.one_hot(t.support_y, N_WAY).double()
    residual = (torch.softmax(x @ state["w"] + state["b"], dim=-1) - y) / len(y)
    assert float((x.T @ residual + learner.l2 * state["w"]).abs().max()) < 1e-6
    assert float(residual.sum(0).abs().max()) < 1e-6


@pytest.mark.parametrize("name", ["metabaseline", "r2d2", "metaoptnet"])
def test_closed_form_and_metric_heads_never_predict_an_absent_class(name: str, image_batch: TaskBatch) -> None:
    learner = build_learner(name, image_backbone(None), n_way=4, every_class_in_support=False)
    t = image_batch[0]  # labels 0..2 only: class 3 has no support example
    pred = learner.adapt(t.support_x, t.support_y).predict(t.query_x)
    assert torch.isfinite(pred).all() and not (pred.argmax(-1) == 3).any()
