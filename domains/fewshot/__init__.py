"""Few-shot image classification over unseen classes (Omniglot-style folders, or a built-in glyph set).

Reference: B. M. Lake, R. Salakhutdinov, J. B. Tenenbaum. "Human-level concept learning through probabilistic
program induction." Science 2015 (Omniglot); the 5-way / 20-way, 1- / 5-shot protocol of Vinyals et al. 2016.
"""

from metasuite.domains.fewshot.domain import PLAN, FewShotDomain, FewShotSampler

__all__ = ["PLAN", "FewShotDomain", "FewShotSampler"]
