"""Driving-scene classification: recognise the scene (highway, tunnel, ...) in an unseen road environment.

* :mod:`metasuite.domains.driving.render` -- the procedural dashcam-scene renderer (embedded default data);
* :mod:`metasuite.domains.driving.data` -- real images: image folders and the BDD100K attribute labels;
* :mod:`metasuite.domains.driving.domain` -- environment splits, the N-way K-shot sampler, the domain.
"""

from metasuite.domains.driving.domain import DrivingDomain, DrivingSampler

__all__ = ["DrivingDomain", "DrivingSampler"]
