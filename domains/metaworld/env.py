"""Meta-World's ML1 and ML10 benchmarks as Gymnasium environments and a task family with disjoint splits.

A Meta-World *task* is one environment class (``reach-v3``, ``push-v3`` ...) with a fixed random vector (object
and goal positions); the goal is not observed (ML benchmarks zero it in the 39-dim observation). The benchmark
object (``metaworld.ML1(env_name, seed=0)`` / ``metaworld.ML10(seed=0)``) is deterministic given its seed: it is
built once per process and cached, and an :class:`EnvTask` names a task by JSON-ready coordinates,
``{"benchmark": "ML1", "env_name": "reach-v3", "source": "train", "index": 17}`` (``source`` is Meta-World's
``train_tasks`` or ``test_tasks`` list, ``index`` the task's place among that class's 50 tasks).

Splits (disjoint by construction, tested):

* ``test`` -- Meta-World's own ``test_tasks`` (ML1: 50 goals drawn with the benchmark seed + 1; ML10: the 50
  tasks of each of the 5 held-out classes);
* ``val`` -- the last :data:`VAL_PER_CLASS` (10) of each training class's 50 Meta-World ``train_tasks``
  (indices 40-49), held out from meta-training;
* ``train`` -- the first 40 of each training class's ``train_tasks`` (ML10: 10 classes x 40).

Episodes: ``horizon`` steps (truncation; Meta-World never terminates). Actions ``(4,)`` are clipped to
``[-1, 1]`` (end-effector displacement x 1 cm, gripper effort). Reward: Meta-World's shaped reward in
``[0, 10]`` per step. ``info["success"]`` is Meta-World's success at this step; ``info["is_success"]`` is
Meta-World's evaluation protocol -- the episode succeeded if ``success`` was reached at *any* step so far
(``metaworld.evaluation`` ends an episode at its first success and counts it) -- so at the episode's last step
it is the episode's success.

:class:`MetaWorldEnv` is one environment; :class:`MetaWorldVectorEnv` steps many of them in this process or,
with ``workers=2``, in two worker processes each stepping half of them (both cores); both tested equal to
single environments step by step.

Reference: T. Yu, D. Quillen, Z. He, R. Julian, K. Hausman, C. Finn, S. Levine. "Meta-World: A Benchmark and
Evaluation for Multi-Task and Meta Reinforcement Learning." CoRL 2019, arXiv:1910.10897.
"""

from __future__ import annotations

import functools
import math
import multiprocessing
import sys
import traceback
from importlib import metadata
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any, ClassVar

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from metasuite.core.errors import DataError, MetasuiteError, UnknownNameError
from metasuite.core.rl.tasks import EnvTask, TaskFamily, tasks_for_envs

__all__ = [
    "BENCHMARKS",
    "BENCHMARK_SEED",
    "GENERATOR_VERSION",
    "INSTALL_HINT",
    "TASKS_PER_CLASS",
    "VAL_PER_CLASS",
    "MetaWorldEnv",
    "MetaWorldFamily",
    "MetaWorldVectorEnv",
    "fast_observations",
    "load_metaworld",
    "metaworld_version",
    "quat_from_matrix",
    "resolve_env_name",
]

GENERATOR_VERSION = "metaworld-splits-v1"  # bump when the split rule or the task coordinates change
BENCHMARKS = ("ML1", "ML10")
BENCHMARK_SEED = 0  # the seed Meta-World's benchmark constructors get: fixes every task's goal
TASKS_PER_CLASS = 50  # Meta-World draws 50 tasks per class for train_tasks and for test_tasks
VAL_PER_CLASS = 10  # the last 10 of each training class's train_tasks are the validation split
OBS_DIM, ACT_DIM = 39, 4
INSTALL_HINT = "pip install metaworld==3.1.1 mujoco==3.3.0"


def load_metaworld() -> ModuleType:
    """The ``metaworld`` module (imported on first use: MuJoCo is heavy); :class:`DataError` with the install
    command when it is missing."""
    try:
        import metaworld
    except ImportError as exc:
        raise DataError(
            f"the metaworld domain needs Meta-World and MuJoCo, which are not importable here ({exc}): {INSTALL_HINT}"
        ) from exc
    return metaworld


def metaworld_version() -> dict[str, str]:
    """Installed versions of Meta-World and MuJoCo (part of the domain's fingerprint)."""
    load_metaworld()
    return {name: metadata.version(name) for name in ("metaworld", "mujoco")}


def resolve_env_name(name: str) -> str:
    """Meta-World's name of an ML1 environment: ``"reach"`` -> ``"reach-v3"``; unknown names are refused with the
    list of known ones."""
    known = load_metaworld().ML1.ENV_NAMES
    key = name.strip().lower()
    key = key if key.endswith("-v3") else f"{key}-v3"
    if key not in known:
        raise UnknownNameError(
            f"unknown Meta-World task {name!r}; use a Meta-World v3 environment such as reach, push or pick-place "
            f"(known: {', '.join(sorted(n.removesuffix('-v3') for n in known))})"
        )
    return key


@functools.cache
def _benchmark(benchmark: str, env_name: str | None) -> Any:
    """Meta-World's benchmark object, built once per process (deterministic given :data:`BENCHMARK_SEED`)."""
    mw = load_metaworld()
    bench = mw.ML1(env_name, seed=BENCHMARK_SEED) if benchmark == "ML1" else mw.ML10(seed=BENCHMARK_SEED)
    for source in ("train", "test"):
        classes = bench.train_classes if source == "train" else bench.test_classes
        for name in classes:
            count = sum(t.env_name == name for t in getattr(bench, f"{source}_tasks"))
            if count != TASKS_PER_CLASS:
                raise DataError(
                    f"Meta-World {benchmark} has {count} {source} tasks of {name}, not {TASKS_PER_CLASS}: this "
                    f"domain's splits assume Meta-World 3.1.1 ({INSTALL_HINT})"
                )
    return bench


def _classes(benchmark: str, env_name: str) -> dict[str, list[str]]:
    """The environment classes of Meta-World's train and test lists (ML1: ``env_name`` in both)."""
    if benchmark == "ML1":
        return {"train": [env_name], "test": [env_name]}
    split = load_metaworld().env_dict.ML10_V3
    return {"train": list(split["train"]), "test": list(split["test"])}


@functools.cache
def _task_table(benchmark: str, env_name: str | None) -> dict[tuple[str, str], tuple[Any, list[Any]]]:
    """``(source, env_name) -> (environment class, that class's Meta-World tasks in benchmark order)``."""
    bench = _benchmark(benchmark, env_name)
    table = {}
    for source in ("train", "test"):
        classes = bench.train_classes if source == "train" else bench.test_classes
        tasks = getattr(bench, f"{source}_tasks")
        for name, cls in classes.items():
            table[source, name] = (cls, [t for t in tasks if t.env_name == name])
    return table


def _lookup(params: dict[str, Any]) -> tuple[Any, Any]:
    """``(environment class, Meta-World Task)`` named by an :class:`EnvTask`'s ``params``."""
    benchmark, name = params["benchmark"], params["env_name"]
    table = _task_table(benchmark, name if benchmark == "ML1" else None)
    key = (params["source"], name)
    if key not in table or not 0 <= params["index"] < TASKS_PER_CLASS:
        raise MetasuiteError(f"no Meta-World {benchmark} task {params}; its (source, class) pairs: {sorted(table)}")
    cls, tasks = table[key]
    return cls, tasks[params["index"]]


#: Simulators no environment holds (a closed environment's, or one an environment left for another class), by class
#: name, handed to the next environment that needs one: building a MuJoCo model takes ~0.1 s, and the trainer opens
#: fresh vector environments for every validation. Safe to reuse: Meta-World's reset rebuilds the whole simulator
#: state from the task (``mj_resetData``; tested).
_IDLE_SIMS: dict[str, list[Any]] = {}
#: At most this many idle simulators are kept (~19 MB each); more are dropped. Without a bound, ML10's environments
#: each kept one simulator per class they had visited: 100 environments x 10 classes grew past 19 GB.
MAX_IDLE_SIMS = 128


def _take_sim(name: str, cls: Any) -> Any:
    idle = _IDLE_SIMS.get(name)
    if idle:
        return idle.pop()
    fast_observations(_FAST["enabled"])  # modules imported since are switched too
    return cls()


# ---------------------------------------------------------------------------- faster observations
@functools.cache
def _mujoco() -> ModuleType:
    import mujoco

    return mujoco


def quat_from_matrix(matrix: Any) -> np.ndarray:
    """``scipy.spatial.transform.Rotation.from_matrix(matrix).as_quat()`` for one rotation matrix, ~20x faster.

    MuJoCo's ``mju_mat2Quat`` converts; the sign is then set as SciPy sets it (Markley's method: the component
    of the largest of the diagonal entries and the trace is positive), so the result equals SciPy's to rounding
    (tested on expert trajectories of every ML10 class). A matrix SciPy would first orthogonalise (not orthogonal
    to 1e-12, or a non-positive determinant: SciPy's error) goes to SciPy itself.
    """
    m = np.asarray(matrix, dtype=np.float64).reshape(9)
    a, b, c, d, e, f, g, h, i = m.tolist()
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    gram = (  # m @ m.T - I, entry by entry (plain floats: numpy's call overhead would dominate a 3x3 product)
        a * a + b * b + c * c - 1.0,
        d * d + e * e + f * f - 1.0,
        g * g + h * h + i * i - 1.0,
        a * d + b * e + c * f,
        a * g + b * h + c * i,
        d * g + e * h + f * i,
    )
    if det <= 0 or max(map(abs, gram)) > 1e-12:  # SciPy would orthogonalise (or refuse) first
        from scipy.spatial.transform import Rotation

        return Rotation.from_matrix(m.reshape(3, 3)).as_quat()
    wxyz = np.empty(4)
    _mujoco().mju_mat2Quat(wxyz, m)
    w, x, y, z = wxyz.tolist()
    diagonal = (a, e, i, a + e + i)
    largest = diagonal.index(max(diagonal))
    sign = -1.0 if (x, y, z, w)[largest] < 0 else 1.0
    return np.array((sign * x, sign * y, sign * z, sign * w))


class _MatrixRotation:
    """What Meta-World's observation code uses of SciPy's ``Rotation``: ``Rotation.from_matrix(m).as_quat()`` (its
    only call, in 22 environment classes). SciPy builds a general ``Rotation`` object for it, which costs about
    as much as the MuJoCo step itself."""

    __slots__ = ("_quat",)

    def __init__(self, quat: np.ndarray):
        self._quat = quat

    @staticmethod
    def from_matrix(matrix: Any) -> _MatrixRotation:
        return _MatrixRotation(quat_from_matrix(matrix))

    def as_quat(self) -> np.ndarray:
        return self._quat


def _touching_object(self: Any, object_geom_id: int) -> bool:
    """Meta-World's ``SawyerXYZEnv.touching_object`` (are both gripper pads pressing on the object?) with the
    contacts selected by array comparisons instead of a Python loop over every contact's struct (a third of a push
    step's time); the same forces summed in the same order, the same answer (tested along expert trajectories)."""
    data = self.data
    contact = data.contact
    g1, g2, rows = contact.geom1, contact.geom2, contact.efc_address
    on_object = (g1 == object_geom_id) | (g2 == object_geom_id)

    def force(pad: str) -> float:
        pad_id = data.geom(pad).id
        return sum(data.efc_force[r] for r in rows[on_object & ((g1 == pad_id) | (g2 == pad_id))])

    left, right = force("leftpad_geom"), force("rightpad_geom")
    return bool(left > 0 and right > 0)


def _curr_obs_combined_no_goal(self: Any) -> np.ndarray:
    """Meta-World's ``SawyerXYZEnv._get_curr_obs_combined_no_goal`` (hand position, gripper opening, each object's
    position and quaternion, zero-padded: 18 numbers) written into one preallocated array instead of Meta-World's
    ``np.split`` / nested ``np.hstack`` of small pieces (a fifth of a reach step's time). The same numbers from the
    same operations (tested equal along expert trajectories); an object layout Meta-World's own code handles
    differently (positions and quaternions of different counts) goes to Meta-World's code."""
    data = self.data
    pos, quat = self._get_pos_objects(), self._get_quat_objects()
    count = len(pos) // 3
    if len(pos) != 3 * count or len(quat) != 4 * count or 7 * count > self._obs_obj_max_len:
        return _ORIGINAL["_get_curr_obs_combined_no_goal"](self)
    obs = np.zeros(4 + self._obs_obj_max_len)
    obs[:3] = data.body("hand").xpos
    between = data.body("rightclaw").xpos - data.body("leftclaw").xpos
    apart = math.sqrt(between.dot(between))  # np.linalg.norm's own computation for a vector
    obs[3] = min(max(apart / 0.1, 0.0), 1.0)
    objects = obs[4 : 4 + 7 * count].reshape(count, 7)
    objects[:, :3] = np.reshape(pos, (count, 3))
    objects[:, 3:] = np.reshape(quat, (count, 4))
    return obs


#: The MuJoCo state a cached hand reset is keyed by and resumes from: everything ``mj_step`` reads (time, positions,
#: velocities, controls, mocap poses, warm start ...).
_HAND_STATE = "mjSTATE_INTEGRATION"
#: Cached hand resets kept per simulator (one per task it has reset on, by model state); more clear the cache.
MAX_HAND_RESETS = 16


def _reset(self: Any, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
    """Meta-World's ``SawyerXYZEnv.reset`` with the hand physics of its first ``reset_model`` call skipped.

    Meta-World's reset runs the class's ``reset_model`` (which starts with ``_reset_hand``: 50 simulation steps
    driving the hand to its start), then ``mj_resetData`` -- which zeroes the whole simulation state those steps
    produced -- then ``reset_model`` again. The first call is still needed (it moves the model's bodies, such as a
    drawer, that the second call's simulation steps read), only its hand steps are wasted: :func:`_reset_hand`
    skips them in that call. Then see :func:`_reset_hand` for the second call."""
    self._metasuite_skip_hand = True
    try:
        return _ORIGINAL["reset"](self, seed=seed, options=options)
    finally:
        self._metasuite_skip_hand = False


def _reset_hand(self: Any, steps: int = 50) -> None:
    """Meta-World's ``SawyerXYZEnv._reset_hand`` (``steps`` simulation steps holding the hand's mocap at its start
    pose, then ``init_tcp``), replayed from a cache: the steps are a deterministic function of the simulation state
    they start from and of the model (the task moves bodies and sites), which is the cache key; the value is the
    state before the very last MuJoCo substep, so a hit restores it and runs that one substep (and
    ``mj_rnePostConstraint``, as Meta-World's ``do_simulation`` does): every quantity MuJoCo derives -- positions
    of bodies and sites included, one substep behind the state as after any step -- comes out as Meta-World's own
    250 substeps leave it (observations, rewards and successes tested equal on all 50 v3 classes across repeated
    resets and task switches). Inside :func:`_reset`'s first ``reset_model`` call the steps are skipped."""
    if getattr(self, "_metasuite_skip_hand", False):  # Meta-World's first reset_model: mj_resetData follows
        self._metasuite_skip_hand = False
        self.init_tcp = self.tcp_center
        return
    if steps < 1 or self.frame_skip < 1:
        return _ORIGINAL["_reset_hand"](self, steps)
    mujoco = _mujoco()
    model, data = self.model, self.data
    spec = getattr(mujoco.mjtState, _HAND_STATE)
    state = np.empty(mujoco.mj_stateSize(model, spec))
    mujoco.mj_getState(model, data, state, spec)
    key = (steps, self.frame_skip, state.tobytes(), np.asarray(self.hand_init_pos, float).tobytes())
    key += tuple(getattr(model, name).tobytes() for name in ("body_pos", "body_quat", "site_pos", "eq_data"))
    cache = self.__dict__.setdefault("_metasuite_hand_resets", {})
    before_last = cache.get(key)
    if before_last is None:
        mocap = model.body_mocapid[data.body("mocap").id]
        for i in range(steps):  # Meta-World's loop, its last substep apart
            data.mocap_pos[mocap][:] = self.hand_init_pos
            data.mocap_quat[mocap][:] = np.array([1, 0, 1, 0])
            if i < steps - 1:
                self.do_simulation([-1, 1], self.frame_skip)
                continue
            data.ctrl[:] = [-1, 1]
            mujoco.mj_step(model, data, nstep=self.frame_skip - 1)
            before_last = np.empty_like(state)
            mujoco.mj_getState(model, data, before_last, spec)
        if len(cache) >= MAX_HAND_RESETS:
            cache.clear()
        cache[key] = before_last
    mujoco.mj_setState(model, data, before_last, spec)
    mujoco.mj_step(model, data, nstep=1)
    mujoco.mj_rnePostConstraint(model, data)
    self.init_tcp = self.tcp_center


_ORIGINAL: dict[str, Any] = {}  # SawyerXYZEnv attribute -> Meta-World's own method
_FAST = {"enabled": True}  # the process's choice: fast_observations(False) keeps Meta-World's own code


def fast_observations(enabled: bool = True) -> int:
    """Speed up Meta-World's own per-step Python and its resets (``enabled=False`` restores them); returns how many
    places changed.

    * the ``Rotation`` name of every imported Meta-World module points at :class:`_MatrixRotation` (its only use:
      the object's quaternion in every observation);
    * ``SawyerXYZEnv.touching_object`` (every reward of the grasping tasks) becomes :func:`_touching_object`;
    * ``SawyerXYZEnv._get_curr_obs_combined_no_goal`` (every observation) becomes :func:`_curr_obs_combined_no_goal`;
    * ``SawyerXYZEnv.reset`` and ``_reset_hand`` become :func:`_reset` and :func:`_reset_hand`: Meta-World's reset
      simulates the hand twice (100 steps, a quarter of a 150-step reach episode's time); the first time is
      skipped (``mj_resetData`` erases it) and the second replayed from a per-simulator cache keyed by the exact
      starting state and model.

    Observations, rewards and successes stay the same (to rounding, tested on expert trajectories of every ML10
    class across task switches, and in a slow test on all 50 v3 classes, resets repeated); a step gets 1.6x (reach)
    to 2.4x (push, pick-place) faster and a reset ~40x (`python benchmarks/metaworld_step_speed.py`). On by
    default: environments apply the process's last choice whenever they build a simulator, so every Meta-World
    environment of this process is affected, the user's own included; ``fast_observations(False)`` switches it off
    for the process.
    """
    from scipy.spatial.transform import Rotation

    _FAST["enabled"] = bool(enabled)
    old, new = (Rotation, _MatrixRotation) if enabled else (_MatrixRotation, Rotation)
    changed = 0
    for name, module in list(sys.modules.items()):
        if name.startswith("metaworld") and getattr(module, "Rotation", None) is old:
            module.Rotation = new
            changed += 1
    base = getattr(sys.modules.get("metaworld.sawyer_xyz_env"), "SawyerXYZEnv", None)
    if base is not None:
        for attribute, fast in (
            ("touching_object", _touching_object),
            ("_get_curr_obs_combined_no_goal", _curr_obs_combined_no_goal),
            ("reset", _reset),
            ("_reset_hand", _reset_hand),
        ):
            _ORIGINAL.setdefault(attribute, getattr(base, attribute))
            wanted = fast if enabled else _ORIGINAL[attribute]
            if getattr(base, attribute) is not wanted:
                setattr(base, attribute, wanted)
                changed += 1
    return changed


def _give_back_sim(name: str, sim: Any) -> None:
    if sum(len(v) for v in _IDLE_SIMS.values()) < MAX_IDLE_SIMS:
        _IDLE_SIMS.setdefault(name, []).append(sim)
    else:
        sim.close()


class MetaWorldEnv(gymnasium.Env):
    """One Meta-World arm; assign ``env.task`` (an :class:`EnvTask`) to choose the task: it takes effect at the
    next ``reset``. It holds one simulator, of its task's class (an idle one, or a new one); a task of another
    class, or ``close``, gives it back to the bounded idle pool."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, horizon: int = 150):
        self.horizon = horizon
        self.observation_space = spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (ACT_DIM,), np.float32)
        self.task: EnvTask | None = None
        self._sim_class: str | None = None
        self.sim: Any = None  # the Meta-World environment of the current task (its goal: ``sim._target_pos``)
        self._loaded: dict[str, Any] | None = None
        self._t, self._success = 0, False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)  # Meta-World's reset is deterministic given the task: nothing else is seeded
        if self.task is None:
            raise MetasuiteError("assign env.task (an EnvTask of the metaworld family) before reset")
        if self._loaded != self.task.params:
            cls, mw_task = _lookup(self.task.params)
            name = self.task.params["env_name"]
            if name != self._sim_class:
                self._release()
                self.sim, self._sim_class = _take_sim(name, cls), name
            self.sim.set_task(mw_task)
            self.sim.max_path_length = self.horizon
            self._loaded = dict(self.task.params)
        obs, _ = self.sim.reset()
        self._t, self._success = 0, False
        return obs.astype(np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.sim is None or self._t >= self.horizon:
            raise MetasuiteError("reset the environment before stepping it (after each episode of `horizon` steps)")
        obs, reward, _, _, info = self.sim.step(np.clip(np.asarray(action, np.float64), -1.0, 1.0))
        self._t += 1
        self._success = self._success or bool(info["success"])
        info = {**info, "success": bool(info["success"]), "is_success": self._success}
        return obs.astype(np.float32), float(reward), False, self._t >= self.horizon, info

    def _release(self) -> None:
        if self.sim is not None:
            _give_back_sim(self._sim_class, self.sim)
        self.sim, self._sim_class, self._loaded = None, None, None

    def close(self) -> None:
        self._release()


class _Batch:
    """``n`` environments stepped in a loop, Gymnasium's next-step autoreset: an environment whose episode ended
    is reset by the next ``step`` (that step's reward is 0, its ``is_success`` False)."""

    def __init__(self, n: int, horizon: int):
        self.envs = [MetaWorldEnv(horizon) for _ in range(n)]
        self.ended = np.zeros(n, bool)

    def set_tasks(self, params: list[dict[str, Any]]) -> None:
        for env, p in zip(self.envs, params):
            env.task = EnvTask(p)

    def reset(self, seed: int | None) -> np.ndarray:
        self.ended[:] = False
        return np.stack([env.reset(seed=None if seed is None else seed + i)[0] for i, env in enumerate(self.envs)])

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        n = len(self.envs)
        obs = np.zeros((n, OBS_DIM), np.float32)
        reward, truncated = np.zeros(n), np.zeros(n, bool)
        success, is_success = np.zeros(n, bool), np.zeros(n, bool)
        for i, (env, action) in enumerate(zip(self.envs, actions)):
            if self.ended[i]:
                obs[i] = env.reset()[0]
                continue
            obs[i], reward[i], _, truncated[i], info = env.step(action)
            success[i], is_success[i] = info["success"], info["is_success"]
        moving = ~self.ended
        self.ended = truncated.copy()
        return obs, reward, truncated, success, is_success, moving

    def close(self, _: Any = None) -> None:
        for env in self.envs:
            env.close()

    def run(self, command: str, data: Any) -> Any:
        return getattr(self, command)(data)


def _worker(conn: Connection, n: int, horizon: int) -> None:
    """A worker process: a :class:`_Batch` of ``n`` environments answering ``(command, data)`` messages."""
    batch = _Batch(n, horizon)
    while True:
        command, data = conn.recv()
        if command == "close":
            conn.close()
            return
        try:
            conn.send(("ok", batch.run(command, data)))
        except Exception:
            conn.send(("error", traceback.format_exc()))


class MetaWorldVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` Meta-World environments as one ``gymnasium.vector.VectorEnv``; ``set_attr("task", tasks)``
    gives each its task (effective at the next reset).

    ``workers=1`` steps them in a loop in this process (no Gymnasium wrappers, one stacked array per step);
    ``workers=2`` splits them into two halves stepped at the same time by two worker processes (both cores; the
    policy runs once per step in this process for all of them). Same episodes either way (tested).
    """

    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": gymnasium.vector.AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int, horizon: int = 150, workers: int = 1):
        self.num_envs, self.horizon = num_envs, horizon
        self.single_observation_space = spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        self.single_action_space = spaces.Box(-1.0, 1.0, (ACT_DIM,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        workers = max(1, min(workers, num_envs))
        self._bounds = np.linspace(0, num_envs, workers + 1).round().astype(int)
        self._local: _Batch | None = _Batch(num_envs, horizon) if workers == 1 else None
        self._conns: list[Connection] = []
        self._procs: list[multiprocessing.Process] = []
        for lo, hi in zip(self._bounds[:-1], self._bounds[1:]) if workers > 1 else ():
            parent, child = multiprocessing.Pipe()
            proc = multiprocessing.Process(target=_worker, args=(child, int(hi - lo), horizon), daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)

    def _call(self, command: str, chunks: list[Any]) -> list[Any]:
        """Run ``command`` on every part (worker ``w`` gets ``chunks[w]``) and return their answers in order."""
        if self._local is not None:
            return [self._local.run(command, chunks[0])]
        for conn, data in zip(self._conns, chunks):
            conn.send((command, data))
        answers = [conn.recv() for conn in self._conns]
        for status, payload in answers:
            if status == "error":
                raise MetasuiteError(f"a Meta-World worker process failed:\n{payload}")
        return [payload for _, payload in answers]

    def _split(self, values: Any) -> list[Any]:
        return [values[lo:hi] for lo, hi in zip(self._bounds[:-1], self._bounds[1:])]

    def set_attr(self, name: str, values: Any) -> None:
        tasks = tasks_for_envs(name, values, self.num_envs, type(self).__name__)
        self._call("set_tasks", self._split([dict(t.params) for t in tasks]))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        seeds = [None if seed is None else seed + int(lo) for lo in self._bounds[:-1]]
        return np.concatenate(self._call("reset", seeds)), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        parts = self._call("step", self._split(np.asarray(actions, np.float64)))
        obs, reward, truncated, success, is_success, moving = (np.concatenate(p) for p in zip(*parts))
        info = {"success": success, "_success": moving, "is_success": is_success, "_is_success": moving}
        return obs, reward, np.zeros(self.num_envs, bool), truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        if self._local is not None:
            self._local.close()
        for conn in self._conns:
            try:
                conn.send(("close", None))
                conn.close()
            except (BrokenPipeError, OSError):
                pass
        for proc in self._procs:
            proc.join(timeout=5)
        self._conns, self._procs = [], []


class MetaWorldFamily(TaskFamily):
    """The tasks of Meta-World's ML1 (one environment class, 50 goals each for train and test) or ML10 (10
    training classes, 5 held-out test classes); ``params`` as in the module docstring."""

    name = "metaworld"
    horizon = 150
    obs_dim = OBS_DIM
    act_dim = ACT_DIM

    def __init__(self, benchmark: str = "ML1", env_name: str = "reach-v3", horizon: int = 150, workers: int = 1):
        if benchmark not in BENCHMARKS:
            raise UnknownNameError(f"unknown Meta-World benchmark {benchmark!r}; choose one of {', '.join(BENCHMARKS)}")
        self.benchmark, self.env_name = benchmark, resolve_env_name(env_name) if benchmark == "ML1" else None
        self.horizon, self.workers = horizon, workers
        classes = _classes(benchmark, self.env_name or "")
        keep = range(TASKS_PER_CLASS - VAL_PER_CLASS)
        held = range(TASKS_PER_CLASS - VAL_PER_CLASS, TASKS_PER_CLASS)
        coordinates = {
            "train": [(name, "train", i) for name in classes["train"] for i in keep],
            "val": [(name, "train", i) for name in classes["train"] for i in held],
            "test": [(name, "test", i) for name in classes["test"] for i in range(TASKS_PER_CLASS)],
        }
        self.split_tasks = {
            split: [{"benchmark": benchmark, "env_name": n, "source": s, "index": i} for n, s, i in coords]
            for split, coords in coordinates.items()
        }

    def sample(self, split: str, generator: torch.Generator) -> EnvTask:
        """One task of ``split``, uniform over its Meta-World tasks (with replacement across draws)."""
        tasks = self.finite_tasks(split)
        return EnvTask(dict(tasks[int(torch.randint(0, len(tasks), (1,), generator=generator))]), split)

    def finite_tasks(self, split: str) -> list[dict[str, Any]]:
        """The split's Meta-World tasks (evaluation lists use each once before repeating any)."""
        if split not in self.split_tasks:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(self.split_tasks)}")
        return self.split_tasks[split]

    def make_env(self) -> MetaWorldEnv:
        return MetaWorldEnv(self.horizon)

    #: Environments stepped together: each holds a ~19 MB simulator (a 50-task x 10-rollout evaluation at once held
    #: 13 GB); 100 is one meta-batch of the default schedule, which therefore runs unchanged.
    max_envs = 100

    def goal(self, task: EnvTask) -> np.ndarray:
        """The task's goal position (x, y, z in metres; ``_target_pos`` of a simulator reset on the task), which
        the observation hides: for the page's plots."""
        cls, mw_task = _lookup(task.params)
        name = task.params["env_name"]
        sim = _take_sim(name, cls)
        try:
            sim.set_task(mw_task)
            sim.reset()
            return np.asarray(sim._target_pos, dtype=float).copy()
        finally:
            _give_back_sim(name, sim)

    def make_vector_env(self, num_envs: int) -> MetaWorldVectorEnv:
        return MetaWorldVectorEnv(num_envs, self.horizon, self.workers)
