"""Meta-World: environment steps per second with Meta-World's own observation code and with the faster one.

Side by side in one run (alternating, best of ``REPEATS``), for ML1 reach, push and pick-place: one
:class:`~metasuite.domains.metaworld.MetaWorldEnv` stepped with uniform random actions, first with Meta-World's
own per-step Python (``fast_observations(False)``: SciPy quaternions, a Python loop over contacts), then with
:func:`~metasuite.domains.metaworld.env.fast_observations` (same observations and rewards, tested); then 68
environments in the domain's two-process vector env (``workers=2``, both cores) with the fast code, as a ratio to
the plain single environment. Writes ``benchmarks/results/metaworld-step-speed.json``.

Run from the repository root on a quiet machine: ``python benchmarks/metaworld_step_speed.py`` (~2 min).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from metasuite.core.rl.tasks import EnvTask
from metasuite.domains.metaworld import MetaWorldEnv, MetaWorldFamily, MetaWorldVectorEnv
from metasuite.domains.metaworld.env import fast_observations

TASKS = ("reach-v3", "push-v3", "pick-place-v3")
STEPS, REPEATS, N_VECTOR, HORIZON = 3000, 3, 68, 150  # 3,000 steps: 20 whole episodes


def single_rate(env: MetaWorldEnv, actions: np.ndarray) -> float:
    env.reset()
    t0 = time.perf_counter()
    for a in actions:
        if env.step(a)[3]:
            env.reset()
    return len(actions) / (time.perf_counter() - t0)


def vector_rate(task: EnvTask, actions: np.ndarray, horizon: int) -> float:
    """Best of ``REPEATS`` runs of two whole episodes of every environment, resets included (as in
    :func:`single_rate`); the rate counts environment steps (a reset is not a step)."""
    env = MetaWorldVectorEnv(N_VECTOR, horizon, workers=2)
    try:
        env.set_attr("task", [task] * N_VECTOR)
        env.reset(seed=0)
        best = 0.0
        for _ in range(REPEATS):
            steps, t0 = 0, time.perf_counter()
            for i in range(2 * (horizon + 1)):  # each episode: `horizon` steps, then one call that resets
                info = env.step(np.repeat(actions[i % len(actions)][None], N_VECTOR, axis=0))[4]
                steps += int(info["_success"].sum())
            best = max(best, steps / (time.perf_counter() - t0))
        return best
    finally:
        env.close()


def main() -> None:
    actions = np.random.default_rng(0).uniform(-1, 1, (STEPS, 4)).astype(np.float32)
    out = {"steps_per_run": STEPS, "repeats": REPEATS, "vector_envs": N_VECTOR, "results": {}}
    for name in TASKS:
        task = EnvTask(MetaWorldFamily(env_name=name).finite_tasks("train")[0])
        env = MetaWorldEnv(HORIZON)
        env.task = task
        env.reset()
        rates: dict[str, list[float]] = {"plain": [], "fast": []}
        for _ in range(REPEATS):
            for mode in ("plain", "fast"):
                fast_observations(mode == "fast")
                rates[mode].append(single_rate(env, actions))
        env.close()
        fast_observations(True)
        best = {k: max(v) for k, v in rates.items()}
        vec = vector_rate(task, actions, HORIZON)
        out["results"][name] = {
            "single_plain_steps_per_s": round(best["plain"]),
            "single_fast_steps_per_s": round(best["fast"]),
            "fast_vs_plain": round(best["fast"] / best["plain"], 2),
            f"vector_{N_VECTOR}_2_workers_fast_steps_per_s": round(vec),
            "vector_fast_vs_single_plain": round(vec / best["plain"], 2),
            "vector_fast_vs_single_fast": round(vec / best["fast"], 2),
        }
        print(name, out["results"][name], flush=True)
    path = Path("benchmarks/results/metaworld-step-speed.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
