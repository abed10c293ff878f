"""The pre-train -> meta-train -> fine-tune pipeline as options of any learner (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TinyClassificationDomain
from test_eval_trust import NoisyGauss

from metasuite.apps.cli import main
from metasuite.core import baselines as baselines_mod
from metasuite.core import evaluation, registry
from metasuite.core.baselines import BaselineConfig, FinetuneBaseline, LogRegBaseline
from metasuite.core.errors import DataError, MetasuiteError, TaskError
from metasuite.core.evaluate import (
    Ensemble,
    MetaMethod,
    PriorShift,
    calibrate_bias,
    support_log_prior,
    trained_balanced,
)
from metasuite.core.learners import load_learner, make_learner
from metasuite.core.runs import TrainRequest, eval_run, train_run
from metasuite.core.tasks import Task, TaskBatch, expand_support, fixed_tasks
from metasuite.domains.sinusoid import SinusoidDomain


@pytest.fixture
def noisy(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(registry, "get_domain_class", lambda name: NoisyGauss)
    return "tiny-gauss"


def _jitter(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return x + 0.1 * torch.randn(x.shape, generator=g)


def test_finetuning_on_the_support_changes_the_answer_reproducibly_and_leaves_the_model(tiny_domain) -> None:
    learner = make_learner(tiny_domain, "protonet", n_way=3, seed=0)
    before = {k: v.clone() for k, v in learner.state_dict().items()}
    task = fixed_tasks(tiny_domain.sampler("test", n_way=3, k_shot=2, n_query=3), 1, seed=0)[0]
    plain = MetaMethod(learner).adapt(task)(task.query_x)
    tuned = MetaMethod(learner, finetune_steps=5, finetune_lr=1e-2, augment=_jitter)
    once, again = tuned.adapt(task)(task.query_x), tuned.adapt(task)(task.query_x)
    assert not torch.allclose(plain, once) and torch.equal(once, again)
    assert all(torch.equal(before[k], v) for k, v in learner.state_dict().items())


def test_driving_augmentation_keeps_shape_and_is_seeded() -> None:
    from metasuite.domains.driving import DrivingDomain

    x = torch.randn(4, 3, 16, 16)
    a = DrivingDomain.augment(None, x, torch.Generator().manual_seed(1))  # type: ignore[arg-type]
    b = DrivingDomain.augment(None, x, torch.Generator().manual_seed(1))  # type: ignore[arg-type]
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)


class Imbalanced(TinyClassificationDomain):
    """Fixed 3 classes; a task's query is 90 % class 0 (as a patient's beats are mostly N)."""

    fixed_label_space = True

    def sampler(self, split, *, n_way=3, k_shot=2, n_query=3):  # type: ignore[no-untyped-def]
        base = super().sampler(split, n_way=3, k_shot=2, n_query=30)

        class Sampler:
            def sample(self, g: torch.Generator) -> Task:
                t = base.sample(g)
                keep = torch.cat([torch.arange(30), torch.arange(30, 33), torch.arange(60, 63)])
                return Task(t.support_x, t.support_y, t.query_x[keep], t.query_y[keep], metadata=t.metadata)

        return Sampler()


def test_calibrated_thresholds_restore_the_likelihood_of_imbalanced_validation_tasks() -> None:
    """A model trained class-balanced over-calls rare classes; offsets fitted on validation tasks lower the
    cross-entropy there (maximum likelihood: the real class priors), the first class's offset fixed at 0."""
    domain = Imbalanced()
    learner = make_learner(domain, "maml", n_way=3, seed=0, balanced_loss=True)
    method = MetaMethod(learner)
    val = fixed_tasks(domain.sampler("val"), 20, seed=0)
    bias = calibrate_bias(method, val, 3)
    assert bias.shape == (3,) and bias[0] == 0 and torch.isfinite(bias).all()

    def nll(m: MetaMethod) -> float:
        z = torch.cat([m.adapt(t)(t.query_x) for t in val])
        return float(torch.nn.functional.cross_entropy(z, torch.cat([t.query_y for t in val])))

    assert nll(MetaMethod(learner, bias=bias)) < nll(method)


def _spy_on_splits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The list every split NoisyGauss samples tasks from is appended to, in order."""
    splits: list[str] = []
    real = NoisyGauss.sampler

    def spy(self, split, **kw):  # type: ignore[no-untyped-def]
        splits.append(split)
        return real(self, split, **kw)

    monkeypatch.setattr(NoisyGauss, "sampler", spy)
    return splits


def test_eval_calibrates_on_validation_tasks_only(noisy: str, tmp_path: Path, monkeypatch) -> None:
    argv = ["train", noisy, "--algo", "maml", "--steps", "2", "--meta-batch-size", "2", "--val-tasks", "2"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    splits = _spy_on_splits(monkeypatch)
    out = tmp_path / "eval.json"
    argv = ["eval", noisy, "--checkpoint", str(tmp_path / "run"), "--calibrate", "5", "--tasks", "3"]
    assert main([*argv, "--json", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["results"][0]["method"] == "maml (calibrated)"
    assert splits.index("val") < len(splits) and set(splits) == {"val", "test"}


def test_the_best_candidate_breaks_ties_and_float_noise_toward_the_first() -> None:
    assert evaluation.best_candidate([0.5, 0.9, 0.7]) == 1
    assert evaluation.best_candidate([0.5, 0.9146666562557221, 0.9146666610240937]) == 1  # float32 noise, a tie
    assert evaluation.best_candidate([0.2, 0.1, 0.1 - 1e-8], higher_is_better=False) == 1
    assert evaluation.best_candidate([0.3, 0.3, 0.4]) == 2


def test_eval_chooses_the_finetuning_rate_on_validation_tasks_and_tests_with_it(
    noisy: str, tmp_path: Path, monkeypatch
) -> None:
    """--finetune-select scores every candidate rate on validation tasks, keeps the best (ties: the smaller; 0 is
    no fine-tuning) and the test result is exactly that of an evaluation told the chosen rate."""
    argv = ["train", noisy, "--algo", "protonet", "--steps", "3", "--meta-batch-size", "2", "--val-tasks", "2"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    splits = _spy_on_splits(monkeypatch)
    base = ["eval", noisy, "--checkpoint", str(tmp_path / "run"), "--tasks", "3", "--quiet"]
    out = tmp_path / "eval.json"
    assert main([*base, "--finetune-steps", "4", "--finetune-select", "5", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    (sel,) = data["finetune_selection"]
    scores = list(sel["val_scores"].values())
    assert list(sel["val_scores"]) == [f"{lr:g}" for lr in evaluation.FINETUNE_LRS] and sel["n_tasks"] == 5
    assert sel["chosen_lr"] == evaluation.FINETUNE_LRS[scores.index(max(scores))]
    assert splits.count("val") == 1 and splits[-1] == "test"  # chosen on validation tasks, then the test tasks
    told = ["--finetune-steps", "4", "--finetune-lr", str(sel["chosen_lr"])] if sel["chosen_lr"] else []
    assert main([*base, *told, "--json", str(tmp_path / "told.json")]) == 0
    again = json.loads((tmp_path / "told.json").read_text())["results"][0]
    assert again["per_task"] == data["results"][0]["per_task"] and again["method"] == data["results"][0]["method"]
    with pytest.raises(MetasuiteError, match="--finetune-steps N"):
        eval_run(evaluation.EvalRequest(noisy, checkpoints=[tmp_path / "run"], finetune_select=3, progress=False))


def test_finetune_select_in_worker_processes_chooses_and_scores_as_one_process_does(noisy: str, tmp_path: Path) -> None:
    """With --workers the candidate rates are scored in worker processes, which rebuild the validation tasks from the
    seed: the same scores, the same choice, the same test result."""
    argv = ["train", noisy, "--algo", "protonet", "--steps", "3", "--meta-batch-size", "2", "--val-tasks", "2"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    base = ["eval", noisy, "--checkpoint", str(tmp_path / "run"), "--tasks", "3", "--quiet"]
    base += ["--finetune-steps", "40", "--finetune-select", "6", "--queries", "3"]
    runs = []
    for workers in ("1", "2"):
        out = tmp_path / f"eval-{workers}.json"
        assert main([*base, "--workers", workers, "--json", str(out)]) == 0
        runs.append(json.loads(out.read_text()))
    (one,), (two,) = (r["finetune_selection"] for r in runs)
    assert one["chosen_lr"] == two["chosen_lr"] and one["n_query"] == two["n_query"] == 3
    assert list(one["val_scores"].values()) == pytest.approx(list(two["val_scores"].values()), abs=1e-6)
    assert len(set(one["val_scores"].values())) > 1  # the rates were really scored apart
    seq, par = (r["results"][0]["per_task"] for r in runs)
    assert par["loss"] == pytest.approx(seq["loss"], abs=1e-5) and par["accuracy"] == seq["accuracy"]


def test_finetune_select_takes_fewer_validation_queries_when_the_split_is_small(
    noisy: str, tmp_path: Path, monkeypatch
) -> None:
    """A small folder sets few validation images aside: the selection keeps the test's ways and shots and takes as
    many queries per class as the split allows; with not even one it says what it needed."""
    argv = ["train", noisy, "--algo", "protonet", "--steps", "2", "--meta-batch-size", "2", "--val-tasks", "2"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    real, asked = NoisyGauss.sampler, []

    def small_val(limit):  # type: ignore[no-untyped-def]
        def sampler(self, split, **kw):  # type: ignore[no-untyped-def]
            if split == "val":
                asked.append(kw)
                if kw["n_query"] > limit:
                    raise DataError(f"no val environment has classes with {kw['k_shot'] + kw['n_query']} images")
            return real(self, split, **kw)

        return sampler

    monkeypatch.setattr(NoisyGauss, "sampler", small_val(2))
    out = tmp_path / "eval.json"
    base = ["eval", noisy, "--checkpoint", str(tmp_path / "run"), "--tasks", "2", "--queries", "6", "--quiet"]
    assert main([*base, "--finetune-steps", "2", "--finetune-select", "3", "--json", str(out)]) == 0
    (sel,) = json.loads(out.read_text())["finetune_selection"]
    assert sel["n_query"] == 2 and [kw["n_query"] for kw in asked] == [6, 5, 4, 3, 2]
    assert {kw["k_shot"] for kw in asked} == {json.loads(out.read_text())["setting"]["k_shot"]}
    monkeypatch.setattr(NoisyGauss, "sampler", small_val(0))
    with pytest.raises(MetasuiteError, match=r"at least one query per class.*no val environment"):
        eval_run(
            evaluation.EvalRequest(
                noisy, checkpoints=[tmp_path / "run"], finetune_steps=2, finetune_select=3, progress=False
            )
        )


def _task(support_y: list[int], mask: list[bool] | None = None) -> Task:
    n = len(support_y)
    return Task(
        torch.zeros(n, 2), torch.tensor(support_y), torch.zeros(4, 2), torch.zeros(4, dtype=torch.long),
        None if mask is None else torch.tensor(mask),
    )  # fmt: skip


def test_support_log_prior_counts_the_unmasked_support_with_add_one_smoothing() -> None:
    prior = support_log_prior(_task([0, 0, 0, 0, 0, 0, 1, 2, 2, 2], [True] * 8 + [False] * 2), 4)
    expected = torch.tensor([7.0, 2.0, 2.0, 1.0]) / 12  # counts 6, 1, 1 (two masked 2s left out), 0; +1 each
    assert torch.allclose(prior, expected.log()) and torch.isfinite(prior).all()
    with pytest.raises(ValueError, match=r"0\.\.3"):
        support_log_prior(_task([0, 4]), 4)


class _Flat:
    """Logits that say nothing: every class equally likely (a balanced model that has no evidence)."""

    name, kind, balanced = "flat", "meta", True

    def adapt(self, task: Task):  # type: ignore[no-untyped-def]
        return lambda x: torch.zeros(len(x), 3)


def test_prior_shift_moves_equal_prior_logits_to_the_supports_class_frequencies() -> None:
    task = _task([0] * 18 + [1, 2])
    x = torch.zeros(5, 2)
    shifted = PriorShift(_Flat(), 1.0, 3).adapt(task)(x)
    assert (shifted.argmax(-1) == 0).all()  # the support's majority class wins when the model is indifferent
    assert torch.allclose(shifted.softmax(-1)[0], torch.tensor([19.0, 2.0, 2.0]) / 23, atol=1e-6)
    half = PriorShift(_Flat(), 0.5, 3).adapt(task)(x)
    assert torch.allclose(half, 0.5 * shifted) and torch.equal(PriorShift(_Flat(), 0.0, 3).adapt(task)(x), 0 * half)
    balanced_support = _task([0, 0, 1, 1, 2, 2])
    assert torch.allclose(PriorShift(_Flat(), 1.0, 3).adapt(balanced_support)(x).softmax(-1), torch.full((5, 3), 1 / 3))
    p = PriorShift(_Flat(), 0.3, 3)
    assert p.name == "flat (support prior x0.3)" and p.kind == "meta" and not trained_balanced(p)
    with pytest.raises(ValueError, match=">= 0"):
        PriorShift(_Flat(), -1.0, 3)
    with pytest.raises(ValueError, match=">= 0"):
        PriorShift(_Flat(), float("nan"), 3)


def test_only_methods_fitted_class_balanced_are_shifted() -> None:
    """A plain logistic regression learns the support's prior already: shifting it would count the prior twice."""
    net = torch.nn.Linear(2, 3)
    on, off = BaselineConfig(balanced=True), BaselineConfig(balanced=False)
    assert trained_balanced(FinetuneBaseline(net, "classification", 3, on))
    assert not trained_balanced(FinetuneBaseline(net, "classification", 3, off))
    assert not trained_balanced(LogRegBaseline(net, 3, on))
    learner = make_learner(Imbalanced(), "maml", n_way=3, seed=0, balanced_loss=True)
    assert trained_balanced(MetaMethod(learner))
    assert not trained_balanced(MetaMethod(make_learner(Imbalanced(), "maml", n_way=3, seed=0)))


def test_a_learner_with_its_own_prior_shift_adds_the_support_prior_and_trains_on_the_shifted_logits() -> None:
    """``prior_shift`` (a hyperparameter): the adapted model's logits carry tau x the support's log prior -- the
    same arithmetic as eval's PriorShift -- and the meta-objective is the plain cross-entropy of those logits."""
    domain = Imbalanced()
    task = fixed_tasks(domain.sampler("val"), 1, seed=0)[0]
    task = Task(task.support_x, torch.tensor([0, 0, 0, 0, 1, 2]), task.query_x, task.query_y)
    plain = make_learner(domain, "maml", n_way=3, seed=0, balanced_loss=True)
    shifted = make_learner(domain, "maml", n_way=3, seed=0, balanced_loss=True, prior_shift=0.7)
    offset = 0.7 * support_log_prior(task, 3)
    a = plain.adapt(task.support_x, task.support_y).predict(task.query_x)
    b = shifted.adapt(task.support_x, task.support_y).predict(task.query_x)
    assert torch.allclose(b, a + offset, atol=1e-6)
    assert shifted.hparams()["prior_shift"] == 0.7 and not trained_balanced(MetaMethod(shifted))
    args = (task.support_x, task.support_y, None, task.query_x, task.query_y, None)
    shifted.test_inner_steps = shifted.inner_steps  # task_objective adapts with the training steps
    b = shifted.adapt(task.support_x, task.support_y).predict(task.query_x)
    loss = shifted.task_objective(shifted.params(), *args)[0].detach()
    assert float(loss) == pytest.approx(float(torch.nn.functional.cross_entropy(b, task.query_y)), rel=1e-5)
    batch = TaskBatch.stack([task, task])
    for learner in (shifted, make_learner(domain, "metasgd", n_way=3, seed=0, balanced_loss=True, prior_shift=1.0)):
        learner.execution = "vmap"
        vm = learner.meta_backward(batch)
        learner.execution = "loop"
        assert learner.meta_backward(batch) == pytest.approx(vm, rel=1e-4)
    with pytest.raises(ValueError, match=">= 0"):
        make_learner(domain, "maml", n_way=3, seed=0, prior_shift=-1.0)


def test_eval_prior_shift_wraps_balanced_methods_records_the_weight_and_refuses_nonsense(
    noisy: str, tmp_path: Path
) -> None:
    argv = ["train", noisy, "--algo", "maml", "--steps", "2", "--meta-batch-size", "2", "--val-tasks", "2"]
    assert main([*argv, "--hparam", "balanced_loss=true", "--out", str(tmp_path / "bal"), "--quiet"]) == 0
    assert main([*argv, "--out", str(tmp_path / "plain"), "--quiet"]) == 0
    out = tmp_path / "eval.json"
    argv = ["eval", noisy, "--checkpoint", str(tmp_path / "bal"), "--checkpoint", str(tmp_path / "plain")]
    assert main([*argv, "--prior-shift", "0.5", "--tasks", "3", "--json", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert [r["method"] for r in data["results"]] == ["maml (bal) (support prior x0.5)", "maml (plain)"]
    assert data["setting"]["prior_shift"] == 0.5
    with pytest.raises(MetasuiteError, match="use one of them"):
        evaluation.FixedTaskEvaluation().run(
            NoisyGauss, evaluation.EvalRequest(noisy, checkpoints=[tmp_path / "bal"], prior_shift=1, calibrate=3)
        )
    with pytest.raises(MetasuiteError, match=">= 0"):
        evaluation.FixedTaskEvaluation().run(
            NoisyGauss, evaluation.EvalRequest(noisy, checkpoints=[tmp_path / "bal"], prior_shift=-0.5)
        )
    report = evaluation.FixedTaskEvaluation().run(
        NoisyGauss,
        evaluation.EvalRequest(noisy, checkpoints=[tmp_path / "plain"], prior_shift=1, n_tasks=2, progress=False),
    )
    assert any("changed nothing" in w for w in report.warnings)


def test_eval_logreg_head_scores_each_meta_learners_features_with_a_support_fitted_logistic_regression(
    noisy: str, tmp_path: Path
) -> None:
    argv = ["train", noisy, "--algo", "maml", "--steps", "2", "--meta-batch-size", "2", "--val-tasks", "2"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = tmp_path / "eval.json"
    argv = ["eval", noisy, "--checkpoint", str(tmp_path / "run"), "--logreg-head", "--tasks", "4"]
    assert main([*argv, "--json", str(out), "--quiet"]) == 0
    results = {r["method"]: r for r in json.loads(out.read_text())["results"]}
    assert set(results) == {"maml", "maml features + logreg"} and results["maml features + logreg"]["kind"] == "meta"
    learner = load_learner(tmp_path / "run", NoisyGauss())[0]
    task = fixed_tasks(NoisyGauss().sampler("test"), 1, seed=5)[0]
    with torch.no_grad():
        feats = learner.backbone.body(task.query_x)
    head = LogRegBaseline(learner.backbone, 3).adapt(task)(task.query_x)
    assert head.shape == (len(feats), 3)  # the meta-learned body's features, the support's own logistic regression
    with pytest.raises(MetasuiteError, match="classification"):
        evaluation.FixedTaskEvaluation()._logreg_heads(SinusoidDomain(), [], {"n_way": None}, BaselineConfig())


def test_metabaseline_is_pretrained_first_unless_told_otherwise(noisy: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(NoisyGauss, "default_baselines", lambda self: {"pretrain_steps": 20})
    argv = ["train", noisy, "--algo", "metabaseline", "--steps", "2", "--meta-batch-size", "2", "--val-tasks", "2"]
    assert main([*argv, "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert json.loads((tmp_path / "a" / "best.json").read_text())["init"]["pretrain_steps"] == 20  # the domain's budget
    assert main([*argv, "--pretrain-steps", "0", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert "init" not in json.loads((tmp_path / "b" / "best.json").read_text())


def test_any_learner_hyperparameter_is_a_train_flag_and_a_typo_is_named(noisy: str, tmp_path: Path, capsys) -> None:
    argv = ["train", noisy, "--algo", "metaoptnet", "--steps", "2", "--meta-batch-size", "2", "--val-tasks", "2"]
    assert main([*argv, "--hparam", "l2=0.05", "--hparam", "balanced_head=false", "--out", str(tmp_path / "a")]) == 0
    hparams = json.loads((tmp_path / "a" / "best.json").read_text())["hparams"]
    assert hparams["l2"] == 0.05 and hparams["balanced_head"] is False
    assert main([*argv, "--hparam", "l_2=0.05", "--out", str(tmp_path / "b"), "--quiet"]) == 2
    assert (
        "metaoptnet has no hyperparameter in ['l_2']" in capsys.readouterr().err
        and "'l2'" in capsys.readouterr().err + "'l2'"
    )


# ------------------------------------------------------------------ support views (adaptation-time augmentation)
def test_expand_support_adds_seeded_views_with_their_labels_and_leaves_the_query(tiny_domain) -> None:
    tasks = fixed_tasks(tiny_domain.sampler("test", n_way=3, k_shot=2, n_query=3), 3, seed=0)
    grown = expand_support(tasks, _jitter, 2, seed=5)
    again = expand_support(tasks, _jitter, 2, seed=5)
    for t, g, a in zip(tasks, grown, again, strict=True):
        assert g.n_support == 3 * t.n_support and g.metadata["support_views"] == 2
        assert torch.equal(g.support_x[: t.n_support], t.support_x)  # the originals first, unchanged
        assert torch.equal(g.support_y, t.support_y.repeat(3))  # each copy keeps its example's label
        assert not torch.equal(g.support_x[t.n_support : 2 * t.n_support], t.support_x)  # the copies are new views
        assert torch.equal(g.query_x, t.query_x) and torch.equal(g.query_y, t.query_y)
        assert torch.equal(g.support_x, a.support_x)  # seeded: every method gets the very same support
    assert expand_support(tasks, _jitter, 0, seed=5) == tasks
    with pytest.raises(TaskError, match="same shape"):
        expand_support(tasks, lambda x, g: x[:, :4], 1, seed=0)


class AugmentedGauss(NoisyGauss):
    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return _jitter(x, generator)


def test_eval_support_views_reach_every_method_and_are_recorded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(registry, "get_domain_class", lambda name: AugmentedGauss)
    monkeypatch.setattr(AugmentedGauss, "default_baselines", lambda self: {"pretrain_steps": 3, "scratch_steps": 2})
    argv = ["train", "tiny-gauss", "--algo", "protonet", "--steps", "2", "--meta-batch-size", "2", "--val-tasks", "2"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    seen: list[tuple[list[str], set[int]]] = []  # (methods, support sizes) of every evaluate() call
    real = evaluation.evaluate

    def spy(domain, methods, tasks, *args, **kw):  # type: ignore[no-untyped-def]
        seen.append(([m.name for m in methods], {t.n_support for t in tasks}))
        return real(domain, methods, tasks, *args, **kw)

    monkeypatch.setattr(evaluation, "evaluate", spy)
    out = tmp_path / "eval.json"
    argv = ["eval", "tiny-gauss", "--checkpoint", str(tmp_path / "run"), "--baselines", "--tasks", "2"]
    assert main([*argv, "--support-views", "3", "--json", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert report["setting"]["support_views"] == 3
    assert seen and all(sizes == {4 * 3 * 2} for _, sizes in seen)  # 3-way 2-shot + 3 views, for every method
    assert {"protonet", "scratch", "pretrain+logreg"} <= {name for names, _ in seen for name in names}
    assert {r["method"] for r in report["results"]} >= {"protonet", "scratch", "pretrain+logreg"}


def test_support_views_are_refused_where_the_domain_has_no_augmentation(noisy: str, tmp_path: Path, capsys) -> None:
    argv = ["train", noisy, "--algo", "protonet", "--steps", "2", "--meta-batch-size", "2", "--val-tasks", "2"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    argv = ["eval", noisy, "--checkpoint", str(tmp_path / "run"), "--tasks", "2", "--support-views", "2", "--quiet"]
    assert main(argv) == 2
    assert "no label-preserving augmentation" in capsys.readouterr().err


class _Fixed:
    """The same outputs for every query (a model whose answer the test knows)."""

    def __init__(self, name: str, out: list[float], kind: str = "meta", balanced: bool = False):
        self.name, self.kind, self.balanced, self.out = name, kind, balanced, torch.tensor(out)

    def adapt(self, task: Task):  # type: ignore[no-untyped-def]
        return lambda x: self.out.expand(len(x), -1)


def test_an_ensemble_averages_class_probabilities_or_regression_outputs() -> None:
    task = _task([0, 1, 2])
    a, b = _Fixed("a", [4.0, 0.0, 0.0]), _Fixed("b", [0.0, 0.0, 1.0])
    pred = Ensemble([a, b], classification=True).adapt(task)(torch.zeros(2, 2))
    expected = (a.out.softmax(-1) + b.out.softmax(-1)) / 2
    assert torch.allclose(pred.softmax(-1), expected.expand(2, -1), atol=1e-6)  # read as logits: the mean probability
    assert torch.allclose(pred.exp().sum(-1), torch.ones(2), atol=1e-6)
    mean = Ensemble([a, b], classification=False).adapt(task)(torch.zeros(2, 2))
    assert torch.allclose(mean, torch.tensor([2.0, 0.0, 0.5]).expand(2, -1))
    e = Ensemble([a, b], classification=True)
    assert e.kind == "meta" and e.name == "ensemble of 2: a + b" and not trained_balanced(e)
    assert trained_balanced(Ensemble([_Flat(), _Flat()], classification=True))  # all members balanced: shift it
    with pytest.raises(ValueError, match="at least 2"):
        Ensemble([a], classification=True)
    with pytest.raises(ValueError, match="mixes kinds"):
        Ensemble([a, _Fixed("c", [0.0, 0.0, 0.0], kind="baseline")], classification=True)


def test_eval_ensemble_averages_checkpoints_of_different_seeds_and_each_baseline_over_its_seeds(
    noisy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(NoisyGauss, "default_baselines", lambda self: {"pretrain_steps": 3, "scratch_steps": 2})
    argv = ["train", noisy, "--algo", "maml", "--steps", "2", "--meta-batch-size", "2", "--val-tasks", "2"]
    for seed in (0, 1):
        assert main([*argv, "--seed", str(seed), "--out", str(tmp_path / f"s{seed}"), "--quiet"]) == 0
    out = tmp_path / "eval.json"
    argv = ["eval", noisy, "--checkpoint", str(tmp_path / "s0"), "--checkpoint", str(tmp_path / "s1"), "--tasks", "3"]
    assert main([*argv, "--baselines", "--baseline-seeds", "0", "1", "--ensemble", "--json", str(out), "--quiet"]) == 0
    results = {r["method"]: r for r in json.loads(out.read_text())["results"]}
    assert {"maml (seed 0)", "maml (seed 1)", "maml (ensemble of 2)"} <= set(results)  # seed names: folds merge
    for baseline in ("scratch", "pretrain+finetune", "pretrain+logreg"):
        assert {f"{baseline} (seed 0)", f"{baseline} (seed 1)"} <= set(results)
        assert results[f"{baseline} (ensemble of 2 seeds)"]["kind"] == "baseline"
    assert results["maml (ensemble of 2)"]["kind"] == "meta" and results["maml (ensemble of 2)"]["n_tasks"] == 3
    # the baselines' seeds are real: two seeds of scratch do not give the same predictions
    assert results["scratch (seed 0)"]["per_task"] != results["scratch (seed 1)"]["per_task"]
    for request, message in (
        ({"checkpoints": [tmp_path / "s0"], "ensemble": True}, "two or more"),
        ({"checkpoints": [tmp_path / "s0"], "baseline_seeds": [0, 1]}, "add --baselines"),
        ({"baselines": True, "baseline_seeds": [1, 1], "ensemble": True}, "twice"),
    ):
        with pytest.raises(MetasuiteError, match=message):  # refused before anything is trained
            evaluation.FixedTaskEvaluation().run(
                NoisyGauss, evaluation.EvalRequest(noisy, n_tasks=2, progress=False, **request)
            )


def test_eval_runs_only_the_named_baselines_and_refuses_ones_the_domain_lacks(
    noisy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--baseline logreg --baseline pooled`` over two seeds: exactly those rows (each seed and each ensemble), no
    scratch or fine-tuned model; a regression domain has no logreg; an unknown name is refused by the parser."""
    monkeypatch.setattr(NoisyGauss, "default_baselines", lambda self: {"pretrain_steps": 3, "scratch_steps": 2})
    out = tmp_path / "eval.json"
    argv = ["eval", noisy, "--tasks", "3", "--baseline", "logreg", "--baseline-seeds", "0", "1", "--ensemble"]
    assert main([*argv, "--json", str(out), "--quiet"]) == 0
    methods = [r["method"] for r in json.loads(out.read_text())["results"]]
    assert sorted(methods) == sorted(
        ["pretrain+logreg (seed 0)", "pretrain+logreg (seed 1)", "pretrain+logreg (ensemble of 2 seeds)"]
    )
    argv = ["eval", noisy, "--tasks", "2", "--baseline", "scratch", "--json", str(out), "--quiet"]
    monkeypatch.setattr(baselines_mod, "pretrain", _no_pretrain)  # scratch alone needs no pre-trained backbone
    assert main(argv) == 0
    assert [r["method"] for r in json.loads(out.read_text())["results"]] == ["scratch"]
    with pytest.raises(MetasuiteError, match=r"has no logreg baseline \(its baselines: scratch, finetune\)"):
        evaluation.FixedTaskEvaluation().run(
            SinusoidDomain,
            evaluation.EvalRequest("sinusoid", n_tasks=2, progress=False, baselines=True, baseline_only=["logreg"]),
        )
    assert main(["eval", noisy, "--baseline", "knn"]) == 2  # the parser's usage error


def _no_pretrain(*args: object, **kwargs: object) -> None:
    raise AssertionError("pre-trained a backbone no chosen baseline uses")


_TEST_TIME = [{"prior_shift": 0.5}, {"finetune_steps": 3}, {"finetune_select": 3}]
_SEEDS = [{"ensemble": True}, {"baselines": True, "baseline_seeds": [0, 1]}]


@pytest.mark.parametrize(
    ("domain", "given"),
    [
        *[("navigation", g) for g in (*_TEST_TIME, *_SEEDS)],
        *[("trading", g) for g in _TEST_TIME],  # trading does ensembles (test_trading_cli)
        *[(d, {"baselines": True, "baseline_only": ["scratch"]}) for d in ("navigation", "trading")],
    ],
)
def test_fixed_task_options_are_refused_where_the_evaluation_would_ignore_them(domain: str, given: dict) -> None:
    """The RL and trading evaluations do not implement the fixed-task test-time options: naming one is an error
    (before anything is loaded), not a silently unchanged result."""
    with pytest.raises(MetasuiteError, match="leave them out"):
        eval_run(evaluation.EvalRequest(domain, progress=False, **given))


@pytest.mark.parametrize("given", [{"n_query": 3}, {"n_way": 2}])
def test_task_shape_flags_are_refused_where_the_evaluation_has_no_such_tasks(given: dict) -> None:
    for domain in ("navigation", "trading"):
        with pytest.raises(MetasuiteError, match="leave them out"):
            eval_run(evaluation.EvalRequest(domain, progress=False, **given))
    with pytest.raises(MetasuiteError, match="leave them out"):  # trading has no support-set size either
        eval_run(evaluation.EvalRequest("trading", progress=False, k_shot=5))


def test_the_walk_forward_refuses_a_split_it_cannot_backtest_before_any_work() -> None:
    """Before, `eval trading --split val` silently backtested the *test* markets: someone choosing a setting on
    validation would have chosen on test data. Now val is the validation walk-forward (test_trading_walk_forward)
    and any other split is refused before anything is loaded."""
    with pytest.raises(MetasuiteError, match=r"--split train: .* evaluates the val / test split only"):
        eval_run(evaluation.EvalRequest("trading", progress=False, split="train"))
    # the RL curve does evaluate any split and shot count it is given: not refused (it stops later, for want of models)
    with pytest.raises(MetasuiteError, match="nothing to evaluate"):
        eval_run(evaluation.EvalRequest("navigation", progress=False, split="val", k_shot=2, n_tasks=2))


def test_meta_training_draws_from_the_domains_meta_train_sampler_and_validates_on_its_sampler(tmp_path: Path) -> None:
    """``Domain.meta_train_sampler`` is what ``metasuite train`` draws (e.g. driving's condition tasks mixed in);
    validation keeps ``sampler("val")``."""
    drawn: dict[str, int] = {"meta_train": 0, "val": 0}

    class Counting:
        def __init__(self, inner, key: str) -> None:
            self.inner, self.key = inner, key

        def sample(self, generator: torch.Generator) -> Task:
            drawn[self.key] += 1
            return self.inner.sample(generator)

    class Auxiliary(TinyClassificationDomain):
        def meta_train_sampler(self, *, n_way, k_shot, n_query):
            return Counting(self.sampler("train", n_way=n_way, k_shot=k_shot, n_query=n_query), "meta_train")

        def sampler(self, split, *, n_way=3, k_shot=2, n_query=3):
            inner = super().sampler(split, n_way=n_way, k_shot=k_shot, n_query=n_query)
            return Counting(inner, "val") if split == "val" else inner

    config = {"steps": 3, "meta_batch_size": 2, "val_every": 3, "val_tasks": 4}
    request = TrainRequest("tiny-gauss", "protonet", tmp_path / "run", config=config, progress=False)
    train_run(request, domain=Auxiliary())
    assert drawn == {"meta_train": 3 * 2, "val": 4}  # 3 steps x meta-batch 2; the 4 fixed validation tasks once
