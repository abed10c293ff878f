"""Driving-scene classification: recognise the scene (highway, tunnel, ...) in an unseen road environment.

* :mod:`domains.driving.render` -- the procedural dashcam-scene renderer (embedded default data);
* :mod:`domains.driving.data` -- real images: image folders and the BDD100K attribute labels;
* :mod:`domains.driving.domain` -- environment splits, the N-way K-shot sampler, the domain.
"""

from domains.driving.domain import DrivingDomain, DrivingSampler

__all__ = ["DrivingDomain", "DrivingSampler"]
