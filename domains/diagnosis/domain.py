"""The patient-level diagnosis domain: one patient = one task, labels in the global AAMI space.

A task is one patient's recording. **Support** = the labelled beats of the first
``support_minutes`` minutes (default 5, the patient-specific protocol of Kiranyaz et al. 2016 and
de Chazal & Reilly 2006); **query** = every later beat. Labels are the global AAMI classes
N, S, V, F (ids 0-3) in every task: a class absent from a patient's support must still be
predicted afterwards (``fixed_label_space``). Support and query sizes differ per patient, so task
batches are padded with masks, and losses are class-balanced (a patient's beats are mostly N).

Inputs (``features``): each beat is the 252-sample window around its R peak followed by the 5 RR features of
:mod:`metasuite.domains.diagnosis.beats` (257 numbers, ``"raw"``), read by a 1-D CNN that concatenates the RR
features to its pooled convolutional features. ``"patient"`` adds what a cardiologist compares a beat with: the
patient's own normal beat. From the task's *support* only (its labelled minutes; never a query beat) it takes the
median window and the median RR interval of the support's normal beats (of every support beat when fewer than
:data:`MIN_REFERENCE_BEATS` are normal) and appends a second signal channel, the window minus that template, and
three RR features divided by that reference RR (pre-, post- and local RR): 2 x 252 + 8 = 512 numbers
(:func:`patient_features`). Premature (S) beats and wide or differently shaped (V) beats stand out against the
patient's own rhythm and morphology rather than against a population average.

Leads (``leads``): MLII only (1, the default), or MLII and the MIT-BIH record's other lead (2; V1 in most
records, where the P wave of supraventricular beats is clearer), windowed at the same R peaks and read as a
second signal channel: ``[MLII window, second-lead window, RR]`` (2 x 252 + 5), and with ``patient`` features
each lead and each lead minus its own template, ``[MLII, second, MLII - template, second - template, RR,
relative RR]`` (4 x 252 + 8). The synthetic cohort has one lead.

Data and splits (disjoint by patient):

* **synthetic cohort** (default, no files): patients drawn by :mod:`metasuite.domains.diagnosis.synth`,
  with split-salted seeds (train / val / test patients never overlap);
* **MIT-BIH** (``data_dir``): the records named by ``records`` (``DS1``, ``DS2``, ``all`` or a
  list), paced records excluded, 201+202 joined. With ``test_records`` (e.g. ``records=DS1``,
  ``test_records=DS2``: the inter-patient protocol of de Chazal et al. 2004) the test patients are
  those; otherwise leave-patients-out folds rotate over ``records`` (``fold`` of ``n_folds``).

Meta-training tasks use a random ``support_minutes`` window of a training patient as support and
``n_query`` random later beats as query; evaluation tasks (``all_tasks``) take, for every patient
of the split once, the first minutes as support and *every* later beat as query.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from metasuite.core.domain import Dataset, Domain
from metasuite.core.errors import DataError, TaskError
from metasuite.core.options import Option
from metasuite.core.tasks import Task, derive_seed
from metasuite.domains.diagnosis.beats import RR_FEATURES, WINDOW_LENGTH, BeatSet, extract_beats
from metasuite.domains.diagnosis.evaluation import PatientEvaluation
from metasuite.domains.diagnosis.metrics import HEADLINE_KEYS, beat_metrics
from metasuite.domains.diagnosis.mitdb import (
    SAME_PATIENT,
    bandpass,
    fetch_mitdb,
    load_patients,
    record_names,
    resolve_records,
)
from metasuite.domains.diagnosis.records import AAMI_CLASSES, PatientRecord
from metasuite.domains.diagnosis.synth import synth_fingerprint, synth_patient

__all__ = ["FEATURE_SETS", "DiagnosisDomain", "DiagnosisSampler", "beats_to_tensor", "patient_features", "preprocess"]

N_FEATURES = WINDOW_LENGTH + len(RR_FEATURES)
#: Input feature sets (the ``features`` option): ``raw`` beats, or beats normalised by the patient's support.
FEATURE_SETS = ("raw", "patient")
#: RR features (by index into RR_FEATURES) divided by the patient's reference RR in the ``patient`` set.
PATIENT_RR = (0, 1, 2)
#: Normal support beats needed for a normal-beat reference; with fewer, every support beat is the reference.
MIN_REFERENCE_BEATS = 3
#: Synthetic cohort sizes (patients) and recording length (minutes) of each split.
COHORT = {"train": 120, "val": 20, "test": 40}
COHORT_MINUTES = 30.0
#: Allowed values of the ``leads`` option: MLII, or MLII and the record's other lead.
LEAD_COUNTS = (1, 2)


def _check_leads(leads: int, data_dir: Path | None) -> int:
    """``leads`` as an int, refused (:class:`DataError`) outside :data:`LEAD_COUNTS` or for the one-lead cohort."""
    if leads not in LEAD_COUNTS:
        raise DataError(f"leads must be 1 (MLII) or 2 (MLII and the record's other lead), got {leads!r}")
    if leads != 1 and data_dir is None:
        raise DataError(
            f"leads={leads} needs MIT-BIH records (--data-dir): the synthetic cohort has one lead; "
            "pass --data-dir with the WFDB folder, or use leads=1"
        )
    return int(leads)


def preprocess(record: PatientRecord) -> PatientRecord:
    """The same 0.5-40 Hz zero-phase band-pass of every lead for every source (MIT-BIH records come filtered)."""
    if record.meta.get("filtered"):
        return record

    def filtered(lead: np.ndarray) -> np.ndarray:
        return bandpass(lead.astype(np.float64), record.fs, f"record {record.patient_id!r}")

    second = None if record.second_lead is None else filtered(record.second_lead)
    meta = {**record.meta, "filtered": True}
    return replace(record, signal=filtered(record.signal), meta=meta, second_lead=second)


def beats_to_tensor(beats: BeatSet) -> tuple[Tensor, Tensor]:
    """``x`` ``(n, n_leads * 252 + 5)`` float32 (each lead's window, then the RR features) and ``y`` ``(n,)``
    int64 AAMI ids: ``(n, 257)`` for one lead."""
    x = np.concatenate([*beats.lead_windows, beats.rr], axis=1)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(beats.label_ids())


def patient_features(x: Tensor, reference_x: Tensor, reference_y: Tensor, n_leads: int = 1) -> Tensor:
    """Raw beats ``x`` ``(n, 257)`` -> the ``patient`` feature set ``(n, 512)``, normalised by a reference.

    The reference is a patient's labelled support (``reference_x`` ``(m, 257)``, ``reference_y`` ``(m,)``): its
    normal beats (class id 0) when it has at least :data:`MIN_REFERENCE_BEATS`, else all of it. Output, per beat:
    ``[window, window - median reference window, 5 RR features, RR[PATIENT_RR] / median reference pre-RR]`` --
    signal channels first, as :class:`~metasuite.core.backbones.CNN1d` reads them. With ``n_leads=2`` the input
    holds two windows per beat (``(n, 509)``, :func:`beats_to_tensor`) and each lead gets its own template:
    ``[lead 1, lead 2, lead 1 - its template, lead 2 - its template, RR, relative RR]``, ``(n, 1016)``. Raises
    :class:`DataError` on an empty reference or inputs of another width.
    """
    n_signal = n_leads * WINDOW_LENGTH
    for name, t in (("beats", x), ("reference", reference_x)):
        if t.shape[-1] != n_signal + len(RR_FEATURES):
            raise DataError(
                f"patient features of {n_leads} lead(s) need {n_signal + len(RR_FEATURES)} numbers per beat, the "
                f"{name} have {t.shape[-1]}"
            )
    if len(reference_x) == 0:
        raise DataError("patient-normalised features need at least one support beat as the reference")
    normal = reference_y == 0
    ref = reference_x[normal] if int(normal.sum()) >= MIN_REFERENCE_BEATS else reference_x
    template = ref[:, :n_signal].median(dim=0).values  # per sample of each lead: each lead's own template
    ref_rr = ref[:, n_signal].median().clamp_min(1e-3)  # pre-RR in seconds
    window, rr = x[:, :n_signal], x[:, n_signal:]
    relative = rr[:, list(PATIENT_RR)] / ref_rr
    return torch.cat([window, window - template, rr, relative], dim=1)


class DiagnosisSampler:
    """Patient tasks of one split.

    Parameters
    ----------
    patients : list of BeatSet
        The split's patients (Q beats already dropped).
    support_minutes : float
        Support = beats in the first (evaluation) or a random (training) window of this length.
    n_query : int
        Training tasks draw this many later beats as query (0 = every later beat).
    split : str
        Name used in messages and metadata.
    tensors : list of (Tensor, Tensor), optional
        ``beats_to_tensor`` of each patient when the caller already holds them (the domain caches them).
    features : str
        ``"raw"`` or ``"patient"`` (:data:`FEATURE_SETS`): in the latter every task's beats are normalised by
        that task's own support (:func:`patient_features`).
    n_leads : int
        Leads per beat in ``patients`` (1, or 2 with a second lead's windows).
    """

    def __init__(
        self,
        patients: list[BeatSet],
        support_minutes: float,
        n_query: int,
        split: str,
        tensors: list[tuple[Tensor, Tensor]] | None = None,
        features: str = "raw",
        n_leads: int = 1,
    ):
        if features not in FEATURE_SETS:
            raise DataError(f"unknown feature set {features!r}; choose one of {', '.join(FEATURE_SETS)}")
        self.features = features
        self.n_leads = int(n_leads)
        if not patients:
            raise DataError(f"the {split} split has no patients")
        if not np.isfinite(support_minutes) or support_minutes <= 0:
            raise DataError(f"support_minutes must be a positive number of minutes, got {support_minutes!r}")
        self.patients = patients
        self.support_minutes = float(support_minutes)
        self.n_query = int(n_query)
        self.split = split
        self._tensors = tensors if tensors is not None else [beats_to_tensor(b) for b in patients]
        for b in patients:
            usable = b.times_s[-1] - 60.0 * self.support_minutes if len(b) else -1.0
            if usable <= 0:
                raise DataError(
                    f"patient {b.patient_id!r} ({split}) has no beats after the first {support_minutes:g} minutes; "
                    "use a longer recording or fewer support minutes"
                )

    def _task(self, i: int, start_s: float, query_idx: np.ndarray | None) -> Task:
        beats = self.patients[i]
        x, y = self._tensors[i]
        end_s = start_s + 60.0 * self.support_minutes
        support = np.flatnonzero((beats.times_s >= start_s) & (beats.times_s < end_s))
        later = np.flatnonzero(beats.times_s >= end_s)
        if len(support) == 0 or len(later) == 0:
            raise TaskError(
                f"patient {beats.patient_id!r}: no support or no query beats for a {self.support_minutes:g}-minute "
                f"window starting at {start_s:.0f} s"
            )
        query = later if query_idx is None else later[query_idx % len(later)]
        s, q = torch.from_numpy(support), torch.from_numpy(np.sort(query))
        xs, xq = x[s], x[q]
        if self.features == "patient":  # normalised by this task's support only
            xs, xq = patient_features(xs, xs, y[s], self.n_leads), patient_features(xq, xs, y[s], self.n_leads)
        return Task(
            xs,
            y[s],
            xq,
            y[q],
            metadata={
                "patient_id": beats.patient_id,
                "task_id": beats.patient_id,
                "classes": list(range(len(AAMI_CLASSES))),
                "class_names": list(AAMI_CLASSES),
                "support_minutes": self.support_minutes,
                "support_start_s": float(start_s),
                "query_times_s": beats.times_s[q.numpy()].tolist() if query_idx is None else None,
            },
        )

    def sample(self, generator: torch.Generator) -> Task:
        """A random training task: random patient, random support window, ``n_query`` later beats."""
        i = int(torch.randint(len(self.patients), (1,), generator=generator))
        beats = self.patients[i]
        latest = max(beats.times_s[-1] - 60.0 * self.support_minutes - 30.0, 0.0)
        start = float(torch.rand((), generator=generator, dtype=torch.float64)) * latest
        n_later = int((beats.times_s >= start + 60.0 * self.support_minutes).sum())
        if self.n_query <= 0 or n_later <= self.n_query:
            return self._task(i, start, None if n_later <= 0 else np.arange(n_later))
        pick = torch.randperm(n_later, generator=generator)[: self.n_query].numpy()
        return self._task(i, start, pick)

    def all_tasks(self) -> list[Task]:
        """Evaluation tasks: every patient once, support = first minutes, query = every later beat."""
        return [self._task(i, 0.0, None) for i in range(len(self.patients))]


class DiagnosisDomain(Domain):
    """Per-patient ECG beat classification (AAMI N/S/V/F) adapted from a patient's first minutes.

    Options
    -------
    data_dir : str, optional
        A folder of MIT-BIH records (``.hea``/``.dat``/``.atr``); default: the synthetic cohort.
    records : str or list
        MIT-BIH records to use: ``DS1``, ``DS2``, ``all`` or names (``"100,101"``).
    test_records : str or list, optional
        Test patients (e.g. ``DS2``); then ``records`` are split into train / val patients.
    fold, n_folds : int
        Leave-patients-out fold when ``test_records`` is not given (default fold 0 of 5).
    support_minutes : float
        Labelled minutes at the start of each recording (default 5).
    cohort : dict, optional
        Synthetic patients per split (default :data:`COHORT`); ``minutes``: recording length.
    features : str
        Beat inputs (:data:`FEATURE_SETS`): ``raw``, or ``patient`` (normalised by the patient's support).
    leads : int
        1 (MLII) or 2 (MLII and the MIT-BIH record's other lead, as a second input channel; ``data_dir`` only).
    """

    name = "diagnosis"
    title = "Patient-level ECG diagnosis"
    description = (
        "Classify a new patient's heartbeats (AAMI N/S/V/F) after a few labelled minutes of that patient, "
        "and summarise the patient (ectopic burden, runs, flags)."
    )
    kind = "classification"
    fixed_label_space = True
    shared_classes = True
    option_specs = (
        Option("data_dir", Path, None, "MIT-BIH folder (WFDB .hea/.dat/.atr); default: the synthetic cohort"),
        Option("records", str, "DS1", "MIT-BIH records / patients to use: DS1, DS2, all or 100,101"),
        Option("test_records", str, None, "test patients, e.g. DS2 (then train on --records)"),
        Option("fold", int, 0, "leave-patients-out fold (0 .. n_folds-1) when no test records are given"),
        Option("n_folds", int, 5, "number of leave-patients-out folds"),
        Option("support_minutes", float, 5.0, "labelled minutes at the start of each recording"),
        Option("cohort", dict, None, 'synthetic patients per split, e.g. {"train": 40}', flag=False),
        Option("minutes", float, COHORT_MINUTES, "minutes per synthetic recording", flag=False),
        Option("hidden", int, 32, "1-D CNN channels"),
        Option(
            "features",
            str,
            "raw",
            "beat inputs: raw, or patient (normalised by the patient's support)",
            choices=FEATURE_SETS,
        ),
        Option(
            "leads",
            int,
            1,
            "ECG leads per beat: 1 (MLII) or 2 (MLII and the record's other lead, e.g. V1; MIT-BIH --data-dir only)",
            choices=LEAD_COUNTS,
        ),
    )

    def __init__(
        self,
        data_dir: str | None = None,
        records: str | Sequence[str] = "DS1",
        test_records: str | Sequence[str] | None = None,
        fold: int = 0,
        n_folds: int = 5,
        support_minutes: float = 5.0,
        cohort: dict[str, int] | None = None,
        minutes: float = COHORT_MINUTES,
        hidden: int = 32,
        features: str = "raw",
        leads: int = 1,
    ):
        super().__init__(
            **{
                k: v
                for k, v in dict(
                    data_dir=data_dir,
                    records=records,
                    test_records=test_records,
                    fold=fold,
                    n_folds=n_folds,
                    support_minutes=support_minutes,
                    cohort=cohort,
                    minutes=minutes,
                    hidden=hidden,
                    features=features,
                    leads=None if leads == 1 else leads,  # recorded when not 1: one-lead checkpoints stay as they were
                ).items()
                if v is not None
            }
        )
        self.data_dir = None if data_dir is None else Path(data_dir)
        if self.data_dir is not None and not self.data_dir.is_dir():
            raise DataError(
                f"MIT-BIH folder {self.data_dir} does not exist; download it with "
                f"`metasuite data fetch mitdb --dest {self.data_dir}` or point --data-dir at your copy"
            )
        self.records = records
        self.test_records = test_records
        if not 0 <= int(fold) < int(n_folds) or int(n_folds) < 3:
            raise DataError(f"fold must be in 0..n_folds-1 with n_folds >= 3, got fold={fold}, n_folds={n_folds}")
        self.fold, self.n_folds = int(fold), int(n_folds)
        self.support_minutes = float(support_minutes)
        if not np.isfinite(self.support_minutes) or self.support_minutes <= 0:
            raise DataError(f"support_minutes must be a positive number of minutes, got {support_minutes!r}")
        self.cohort = {**COHORT, **(cohort or {})}
        self.minutes = float(minutes)
        self.hidden = int(hidden)
        if features not in FEATURE_SETS:
            raise DataError(f"unknown feature set {features!r}; choose one of {', '.join(FEATURE_SETS)}")
        self.features = features
        self.leads = _check_leads(leads, self.data_dir)
        self._records: dict[str, list[PatientRecord]] = {}
        self._beats: dict[str, list[BeatSet]] = {}
        self._tensors: dict[str, list[tuple[Tensor, Tensor]]] = {}
        self._real: dict[str, list[PatientRecord]] | None = None

    # ------------------------------------------------------------------ data
    def _synthetic(self, split: str) -> list[PatientRecord]:

        seeds = [derive_seed("diagnosis-cohort", split, i) % (2**31) for i in range(self.cohort[split])]
        return [preprocess(synth_patient(s, minutes=self.minutes)) for s in seeds]

    def _real_split(self, split: str) -> list[PatientRecord]:
        """The patients of ``split`` among the real records (loaded once).

        With ``test_records`` the test patients are loaded only when asked for (``records_of("test")``),
        so a model can be trained on DS1 where DS2 is not present; training patients are the
        ``records`` minus every patient that has a record among the test records.
        """

        if self._real is None:
            pool = load_patients(self.data_dir, self.records, leads=self.leads)
            if self.test_records is not None:
                test_names = self._test_record_names()
                pool = [p for p in pool if not test_names & set(p.patient_id.removeprefix("mitdb:").split("+"))]
            # a fixed pseudo-random patient order (by id hash) that does not depend on the folder listing
            order = sorted(pool, key=lambda p: hashlib.sha256(p.patient_id.encode()).hexdigest())
            if self.test_records is not None:
                n_val = max(1, round(0.15 * len(order)))
                self._real = {"val": order[:n_val], "train": order[n_val:]}
            else:
                if len(order) < self.n_folds:
                    raise DataError(
                        f"{len(order)} patients in {self.data_dir} cannot make {self.n_folds} leave-patients-out "
                        "folds; add records or lower n_folds"
                    )
                folds = [order[k :: self.n_folds] for k in range(self.n_folds)]
                val_fold = (self.fold + 1) % self.n_folds
                train = [p for k, f in enumerate(folds) if k not in (self.fold, val_fold) for p in f]
                self._real = {"test": folds[self.fold], "val": folds[val_fold], "train": train}
            if not self._real["train"]:
                raise DataError("no training patients left after taking the test and validation patients")
        if split == "test" and "test" not in self._real:
            self._real["test"] = load_patients(self.data_dir, self.test_records, leads=self.leads)
        return self._real[split]

    def _test_record_names(self) -> set[str]:
        """Every record of a test patient (the test records and their patients' other records: 201 is 202's)."""
        names = set(record_names(self.test_records)) if self.test_records is not None else set()
        return names | {r for g in SAME_PATIENT if names & set(g) for r in g}

    def records_of(self, split: str) -> list[PatientRecord]:
        """The (filtered) recordings of ``split``'s patients (generated / loaded once, then kept)."""
        if split not in ("train", "val", "test"):
            raise DataError(f"unknown split {split!r}; choose train, val or test")
        if split not in self._records:
            self._records[split] = self._synthetic(split) if self.data_dir is None else self._real_split(split)
        return self._records[split]

    def patients(self, split: str) -> list[BeatSet]:
        """Beat sets of ``split``'s patients (extracted once, then kept)."""
        if split not in self._beats:
            self._beats[split] = [extract_beats(r) for r in self.records_of(split)]
        return self._beats[split]

    def patient_tensors(self, split: str) -> list[tuple[Tensor, Tensor]]:
        """``(x, y)`` of every patient of ``split`` (:func:`beats_to_tensor`, built once, then kept)."""
        if split not in self._tensors:
            self._tensors[split] = [beats_to_tensor(b) for b in self.patients(split)]
        return self._tensors[split]

    def pooled_tensors(self, split: str) -> list[tuple[Tensor, Tensor]]:
        """``(x, y)`` of every patient of ``split`` in the domain's feature set, for pooled (global) training.

        ``patient`` features are normalised by each patient's first ``support_minutes`` (the evaluation support).
        """
        if self.features == "raw":
            return self.patient_tensors(split)
        key = f"{split}:{self.features}"
        if key not in self._tensors:
            out = []
            for beats, (x, y) in zip(self.patients(split), self.patient_tensors(split)):
                first = torch.from_numpy(beats.times_s < 60.0 * self.support_minutes)
                ref_x, ref_y = (x[first], y[first]) if bool(first.any()) else (x, y)
                out.append((patient_features(x, ref_x, ref_y, self.leads), y))
            self._tensors[key] = out
        return self._tensors[key]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_records": {}, "_beats": {}, "_tensors": {}, "_real": None}

    # ------------------------------------------------------------------ Domain interface
    def sampler(self, split: str, *, n_way: int | None = 4, k_shot: int = 0, n_query: int = 256) -> DiagnosisSampler:
        if n_way not in (None, len(AAMI_CLASSES)):
            raise TaskError(
                f"the diagnosis domain always has {len(AAMI_CLASSES)} classes (N, S, V, F), got n_way={n_way}"
            )
        return DiagnosisSampler(
            self.patients(split),
            self.support_minutes,
            n_query,
            split,
            tensors=self.patient_tensors(split),
            features=self.features,
            n_leads=self.leads,
        )

    def backbone_spec(self, algorithm: str, n_way: int | None) -> tuple[str, dict[str, Any]]:
        patient = self.features == "patient"
        return "cnn1d", {
            "in_channels": self.leads * (2 if patient else 1),
            "length": WINDOW_LENGTH,
            "n_extra": len(RR_FEATURES) + (len(PATIENT_RR) if patient else 0),
            "hidden": self.hidden,
            "n_blocks": 4,
            "norm": "group",
            "stem_stride": 3,  # 120 Hz effective: the signal is band-passed to 40 Hz; a third of the cost
            "out_features": None if algorithm == "protonet" else len(AAMI_CLASSES),
        }

    def default_setting(self) -> dict[str, Any]:
        # k_shot is unused (the support is a time window: support_minutes); n_query = query beats per
        # training task (evaluation uses every later beat)
        return {"n_way": len(AAMI_CLASSES), "k_shot": 0, "n_query": 256}

    def eval_plan(self, setting: dict[str, Any], split: str | None, explicit: bool) -> list[dict[str, Any]]:
        return [{**setting, "n_query": 0, "split": split or "test", "support_minutes": self.support_minutes}]

    def default_hparams(self, algorithm: str) -> dict[str, Any]:
        common = {"every_class_in_support": False, "balanced_loss": True}
        if algorithm in ("maml", "metasgd", "fomaml"):
            return {**common, "inner_lr": 0.05, "inner_steps": 5, "test_inner_steps": 20}
        if algorithm == "anil":
            return {**common, "inner_lr": 0.1, "inner_steps": 10, "test_inner_steps": 50}
        if algorithm == "reptile":
            return {**common, "inner_lr": 0.05, "inner_steps": 5, "test_inner_steps": 20}
        return common

    def default_train_config(self, algorithm: str) -> dict[str, Any]:
        return {
            "steps": 1000,
            "meta_batch_size": 4,
            "outer_lr": 1e-3,
            "val_every": 100,
            "val_tasks": 20,
            "checkpoint_every": 50,
            "pad_tasks": True,
        }

    def default_baselines(self) -> dict[str, Any]:
        return {
            "scratch_steps": 100,
            "scratch_lr": 1e-3,
            "pretrain_steps": 1000,
            "pretrain_batch_size": 256,
            "pretrain_lr": 1e-3,
            "finetune_steps": 20,
            "finetune_lr": 1e-3,
            "balanced": True,
        }

    def n_classes_total(self) -> int:
        return len(AAMI_CLASSES)

    def pooled_batch(self, split: str, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Beats drawn uniformly from every beat of ``split``'s patients (the global model's data)."""
        tensors = self.pooled_tensors(split)
        sizes = torch.tensor([len(y) for _, y in tensors])
        which = torch.multinomial(sizes.double(), batch_size, replacement=True, generator=generator)
        xs, ys = [], []
        for i in which.unique().tolist():
            n = int((which == i).sum())
            x, y = tensors[i]
            pick = torch.randint(len(y), (n,), generator=generator)
            xs.append(x[pick])
            ys.append(y[pick])
        return torch.cat(xs), torch.cat(ys)

    def metrics(self, pred: Tensor, query_y: Tensor, query_mask: Tensor | None) -> dict[str, float]:
        """Accuracy, macro-F1 and the S / V sensitivity, positive predictivity and F1 of one patient.

        The S and V statistics of a patient are defined only when the patient has at least one true beat of the
        class (NaN otherwise, whatever a method predicts), so every method's patient mean of ``S_F1`` is over the
        same patients. False S / V calls in patients without the class count in the gross statistics.
        """
        y, p = query_y, pred.argmax(dim=-1)
        if query_mask is not None:
            y, p = y[query_mask], p[query_mask]
        m = beat_metrics(y.numpy(), p.numpy())
        out = {k: float(m[k]) for k in HEADLINE_KEYS}
        for c in ("S", "V"):
            if not bool((y == AAMI_CLASSES.index(c)).any()):
                out.update({f"{c}_Se": math.nan, f"{c}_+P": math.nan, f"{c}_F1": math.nan})
        return out

    def split_ids(self) -> dict[str, list[str]]:
        """Patient ids of the training and validation splits (so a checkpoint says whom it has seen)."""
        return {split: [r.patient_id for r in self.records_of(split)] for split in ("train", "val")}

    @classmethod
    def evaluation(cls) -> PatientEvaluation:
        """Fixed patient tasks plus gross statistics, a per-patient table and references (:mod:`.evaluation`)."""
        return PatientEvaluation()

    @classmethod
    def datasets(cls) -> tuple[Dataset, ...]:
        return (Dataset("mitdb", "MIT-BIH Arrhythmia Database (PhysioNet)", "~100 MB", fetch_mitdb),)

    def fingerprint(self) -> str:
        if self.data_dir is None:
            blob = json.dumps(
                {"synth": synth_fingerprint(), "cohort": self.cohort, "minutes": self.minutes}, sort_keys=True
            )
        else:  # the records used for training and validation, by name and file sizes (not the folder listing)
            held_out = self._test_record_names()
            used = [r for r in resolve_records(self.records, self.data_dir) if r not in held_out]
            sizes = {
                r: [(self.data_dir / f"{r}{ext}").stat().st_size for ext in (".hea", ".dat", ".atr")
                    if (self.data_dir / f"{r}{ext}").is_file()]
                for r in used
            }  # fmt: skip
            blob = json.dumps({"records": sizes, **({"leads": self.leads} if self.leads != 1 else {})}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
