"""Task / TaskBatch validation, stacking with padding, seeding helpers and label checks."""

from __future__ import annotations

import pytest
import torch
from conftest import GaussianClassSampler, gen

from metasuite.core.errors import TaskError
from metasuite.core.tasks import (
    Task,
    TaskBatch,
    check_classification_task,
    derive_seed,
    fixed_tasks,
    generator,
    sample_batch,
)


def _task(n_s: int = 4, n_q: int = 3, shape: tuple[int, ...] = (2,), **kw) -> Task:
    return Task(
        torch.randn(n_s, *shape),
        torch.randn(n_s, 1),
        torch.randn(n_q, *shape),
        torch.randn(n_q, 1),
        **kw,
    )


def _equal_tasks(a: Task, b: Task) -> bool:
    same = lambda x, y: (x is None and y is None) or (x is not None and y is not None and torch.equal(x, y))
    return all(
        same(getattr(a, f), getattr(b, f))
        for f in ("support_x", "support_y", "query_x", "query_y", "support_mask", "query_mask")
    ) and (a.metadata == b.metadata)


# ----------------------------------------------------------------------------- Task validation
def test_mismatched_support_lengths_are_rejected() -> None:
    with pytest.raises(TaskError, match="support_x has 4 examples but support_y has 3"):
        Task(torch.randn(4, 2), torch.randn(3, 1), torch.randn(2, 2), torch.randn(2, 1))


def test_mismatched_query_lengths_are_rejected() -> None:
    with pytest.raises(TaskError, match="query_x has 2 examples but query_y has 5"):
        Task(torch.randn(4, 2), torch.randn(4, 1), torch.randn(2, 2), torch.randn(5, 1))


def test_nan_in_support_x_is_rejected_with_a_message_naming_nan() -> None:
    x = torch.randn(4, 2)
    x[1, 0] = float("nan")
    with pytest.raises(TaskError, match=r"support_x contains 1 NaN"):
        Task(x, torch.randn(4, 1), torch.randn(2, 2), torch.randn(2, 1))


def test_inf_in_query_y_is_rejected() -> None:
    y = torch.randn(2, 1)
    y[0] = float("inf")
    with pytest.raises(TaskError, match="query_y contains 1 NaN/inf"):
        Task(torch.randn(4, 2), torch.randn(4, 1), torch.randn(2, 2), y)


def test_feature_shape_mismatch_between_support_and_query_is_rejected() -> None:
    with pytest.raises(TaskError, match=r"support_x examples have shape \(2,\) but query_x examples have shape \(3,\)"):
        Task(torch.randn(4, 2), torch.randn(4, 1), torch.randn(2, 3), torch.randn(2, 1))


def test_mask_of_wrong_shape_is_rejected() -> None:
    with pytest.raises(TaskError, match=r"support_mask has shape \(3,\), expected \(4,\)"):
        _task(support_mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(TaskError, match=r"query_mask has shape \(3, 1\), expected \(3,\)"):
        _task(query_mask=torch.ones(3, 1, dtype=torch.bool))


def test_label_dtype_mismatch_between_support_and_query_is_rejected() -> None:
    with pytest.raises(TaskError, match=r"support_y is torch\.int64 but query_y is torch\.float32"):
        Task(torch.randn(2, 2), torch.tensor([0, 1]), torch.randn(2, 2), torch.tensor([0.0, 1.0]))


# ----------------------------------------------------------------------------- TaskBatch.stack
def test_stack_of_equal_tasks_has_leading_task_dimension_and_no_masks() -> None:
    tasks = [_task() for _ in range(3)]
    batch = TaskBatch.stack(tasks)
    assert batch.support_x.shape == (3, 4, 2)
    assert batch.query_y.shape == (3, 3, 1)
    assert batch.support_mask is None and batch.query_mask is None
    assert len(batch) == 3
    for i, t in enumerate(tasks):
        assert _equal_tasks(batch[i], t)


def test_stack_of_ragged_tasks_without_pad_names_the_sizes_and_the_fix() -> None:
    with pytest.raises(TaskError, match=r"different \(support, query\) sizes \[\(2, 3\), \(4, 3\)\]; pass pad=True"):
        TaskBatch.stack([_task(4, 3), _task(2, 3)])


def test_stack_of_ragged_tasks_with_pad_marks_real_examples_and_round_trips() -> None:
    tasks = [_task(4, 3, metadata={"i": 0}), _task(2, 5, metadata={"i": 1}), _task(3, 1, metadata={"i": 2})]
    batch = TaskBatch.stack(tasks, pad=True)
    assert batch.support_x.shape == (3, 4, 2) and batch.query_x.shape == (3, 5, 2)
    assert batch.support_mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]]
    assert batch.query_mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    for i, t in enumerate(tasks):
        back = batch[i]
        assert back.metadata == t.metadata
        sm, qm = back.support_mask, back.query_mask
        assert torch.equal(back.support_x[sm], t.support_x) and torch.equal(back.support_y[sm], t.support_y)
        assert torch.equal(back.query_x[qm], t.query_x) and torch.equal(back.query_y[qm], t.query_y)


def test_stack_keeps_existing_masks_and_pads_them_with_false() -> None:
    own = torch.tensor([True, False])
    tasks = [_task(2, 3, support_mask=own), _task(4, 3)]
    batch = TaskBatch.stack(tasks, pad=True)
    assert batch.support_mask.tolist() == [[1, 0, 0, 0], [1, 1, 1, 1]]


def test_stack_rejects_different_feature_shapes_and_empty_lists() -> None:
    with pytest.raises(TaskError, match=r"task 1 has examples of shape \(3,\), task 0 has \(2,\)"):
        TaskBatch.stack([_task(shape=(2,)), _task(shape=(3,))], pad=True)
    with pytest.raises(TaskError, match="empty"):
        TaskBatch.stack([])


# ----------------------------------------------------------------------------- seeding helpers
def test_derive_seed_is_deterministic_distinct_and_63_bit() -> None:
    assert derive_seed(0, "train", 5) == derive_seed(0, "train", 5)
    seeds = {derive_seed(s, split, step) for s in range(3) for split in ("train", "val", "test") for step in range(50)}
    assert len(seeds) == 3 * 3 * 50
    assert all(0 <= s < 2**63 for s in seeds)
    # argument order and string/int identity matter
    assert derive_seed(1, 2) != derive_seed(2, 1)
    assert derive_seed("1") != derive_seed(1)


def test_generator_is_seeded_by_derive_seed() -> None:
    a = torch.rand(5, generator=generator(7, "val"))
    b = torch.rand(5, generator=torch.Generator().manual_seed(derive_seed(7, "val")))
    assert torch.equal(a, b)


def test_fixed_tasks_is_deterministic_and_prefix_stable() -> None:
    sampler = GaussianClassSampler((3,))
    full = fixed_tasks(sampler, 6, seed=11)
    again = fixed_tasks(sampler, 6, seed=11)
    prefix = fixed_tasks(sampler, 2, seed=11)
    assert all(_equal_tasks(a, b) for a, b in zip(full, again, strict=True))
    assert all(_equal_tasks(a, b) for a, b in zip(prefix, full[:2], strict=True))
    other = fixed_tasks(sampler, 2, seed=12)
    assert not torch.equal(other[0].support_x, full[0].support_x)
    # tasks within one list differ from each other
    assert not torch.equal(full[0].support_x, full[1].support_x)


def test_sample_batch_uses_the_generator_and_rejects_zero_tasks() -> None:
    sampler = GaussianClassSampler((3,))
    a, b = sample_batch(sampler, 3, gen(1)), sample_batch(sampler, 3, gen(1))
    assert torch.equal(a.support_x, b.support_x) and len(a) == 3
    with pytest.raises(TaskError, match="n_tasks must be >= 1"):
        sample_batch(sampler, 0, gen(1))


# ----------------------------------------------------------------------------- classification checks
def _cls_task(support_y: list[int], query_y: list[int]) -> Task:
    return Task(
        torch.randn(len(support_y), 2),
        torch.tensor(support_y),
        torch.randn(len(query_y), 2),
        torch.tensor(query_y),
    )


def test_missing_class_in_support_names_the_counts_and_the_class() -> None:
    task = _cls_task([0, 1, 1, 2], [0, 1])
    with pytest.raises(
        TaskError, match=r"support set has 3 classes but n_way=5 \(no support example for class\(es\) \[3, 4\]\)"
    ):
        check_classification_task(task, 5, every_class_in_support=True)
    check_classification_task(task, 5, every_class_in_support=False)  # fixed label space: allowed


def test_labels_out_of_range_are_rejected() -> None:
    with pytest.raises(TaskError, match=r"query_y has labels in \[0, 3\] but n_way=3"):
        check_classification_task(_cls_task([0, 1, 2], [0, 3]), 3, every_class_in_support=True)
    with pytest.raises(TaskError, match=r"support_y has labels in \[-1, 1\]"):
        check_classification_task(_cls_task([-1, 0, 1], [0, 1]), 3, every_class_in_support=False)


def test_float_labels_are_rejected_for_classification() -> None:
    task = Task(torch.randn(2, 2), torch.tensor([0.0, 1.0]), torch.randn(2, 2), torch.tensor([0.0, 1.0]))
    with pytest.raises(TaskError, match="integer class labels"):
        check_classification_task(task, 2, every_class_in_support=False)


def test_padding_is_ignored_by_the_label_checks() -> None:
    # the padded label 0 of a task that lacks class 0 must not hide the missing class
    tasks = [_cls_task([1, 2, 1], [1]), _cls_task([0, 1, 2, 0, 1], [2, 2])]
    batch = TaskBatch.stack(tasks, pad=True)
    with pytest.raises(TaskError, match=r"class\(es\) \[0\]"):
        check_classification_task(batch, 3, every_class_in_support=True)
    check_classification_task(batch, 3, every_class_in_support=False)
    assert int(batch.query_mask.sum()) == 3
