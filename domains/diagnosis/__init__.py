"""Patient-level ECG diagnosis: adapt a beat classifier to a new patient from a few labelled minutes.

* :mod:`domains.diagnosis.records` -- :class:`PatientRecord`, the one in-memory recording format;
* :mod:`domains.diagnosis.synth` -- the synthetic patient cohort (embedded default data);
* :mod:`domains.diagnosis.mitdb` -- the MIT-BIH Arrhythmia Database reader (wfdb) and downloader;
* :mod:`domains.diagnosis.beats` -- beat windows and RR features;
* :mod:`domains.diagnosis.domain` -- patient tasks, splits, defaults, the domain;
* :mod:`domains.diagnosis.metrics` -- Se / +P / F1, gross and per-patient statistics;
* :mod:`domains.diagnosis.report` -- the patient-level report (burden, runs, flags).
"""

from domains.diagnosis.domain import DiagnosisDomain, DiagnosisSampler

__all__ = ["DiagnosisDomain", "DiagnosisSampler"]
