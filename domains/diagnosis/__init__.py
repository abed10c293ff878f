"""Patient-level ECG diagnosis: adapt a beat classifier to a new patient from a few labelled minutes.

* :mod:`metasuite.domains.diagnosis.records` -- :class:`PatientRecord`, the one in-memory recording format;
* :mod:`metasuite.domains.diagnosis.synth` -- the synthetic patient cohort (embedded default data);
* :mod:`metasuite.domains.diagnosis.mitdb` -- the MIT-BIH Arrhythmia Database reader (wfdb) and downloader;
* :mod:`metasuite.domains.diagnosis.beats` -- beat windows and RR features;
* :mod:`metasuite.domains.diagnosis.domain` -- patient tasks, splits, defaults, the domain;
* :mod:`metasuite.domains.diagnosis.metrics` -- Se / +P / F1, gross and per-patient statistics;
* :mod:`metasuite.domains.diagnosis.report` -- the patient-level report (burden, runs, flags).
"""

from metasuite.domains.diagnosis.domain import DiagnosisDomain, DiagnosisSampler

__all__ = ["DiagnosisDomain", "DiagnosisSampler"]
