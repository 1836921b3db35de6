"""How much work a comparison has left: expected seconds per task, learnt as tasks finish.

The progress bar and the ETA of ``bioplausible compare`` (:class:`WorkEstimate`), and the priority by
which the local executor hands the longest expected task to a free worker (``run_tasks(priority=...)``).
"""

from __future__ import annotations

from pathlib import Path

from bridges.compare.graph import compile_task, craft_task, eval_task, train_task
from bridges.io import read_json
from bridges.tasks import Task

__all__ = ["WorkEstimate", "task_kind", "task_prior_s"]

#: Seconds on one core of each kind of task in the default comparison (digits, 2 workers, measured
#: with ``bioplausible compare``), the priors of :class:`WorkEstimate`.
_PRIOR_S = {
    "compile": 80.0,  # one Brian2 standalone project (cold cache)
    "train rate": 3.2 / 30,  # per epoch (1348 samples)
    "train spiking": 9.0,  # per epoch (1348 samples)
    "eval rate": 0.085,  # one attack of up to 10 gradient steps and epsilon on the whole test set
    "predict spiking": 9e-5,  # per sample and time step simulated in Brian2
    "gradient spiking": 2.7e-5,  # per sample, time step, input-spike draw and attack step of the twin
    "forward spiking": 9e-6,  # per sample and time step of a twin forward pass without gradient
    "gradient rate": 0.085 / (449 * 10),  # per sample and gradient step of a rate model (digits' MLP)
}

#: (training, test) samples of each data set, to scale the priors (measured on digits) by the samples
#: a task processes; a data set not listed counts as digits' size
_SAMPLES = {
    "digits": (1348, 449),
    "iris": (112, 38),
    "mnist": (60000, 10000),
    "fashion-mnist": (60000, 10000),
    "kmnist": (60000, 10000),
    "cifar10": (50000, 10000),
    "svhn": (73257, 26032),
}


def _sample_ratio(s: dict, split: int, n: int | None) -> float:
    """Samples of a task (``n``, or the whole split of its data set) over digits' (``split``: 0 train,
    1 test)."""
    dataset = s.get("dataset") or s.get("config", {}).get("dataset")
    full = _SAMPLES.get(dataset, _SAMPLES["digits"])[split]
    return float(n or full) / _SAMPLES["digits"][split]


#: model queries that cost as much as one gradient step (a forward pass is ~1/3 of forward+backward)
_QUERIES_PER_STEP = 3.0


def task_kind(task: Task) -> str:
    """The kind of ``task`` for run-time estimates: ``compile <family> <rule>``, ``train <family>
    <rule>``, ``craft rate <source> <method>`` or ``eval <family> <rule> <attack> <method>``
    (``eval <family> <rule> clean`` at epsilon 0)."""
    s = task.spec
    head = f"{s.get('family')} {s.get('rule')}"
    if task.fn is compile_task:
        return f"compile {head}"
    if task.fn is train_task:
        return f"train {head}"
    if task.fn is craft_task:
        return f"craft rate {s['source']} {s['method']}"
    if task.fn is eval_task:
        if float(s["epsilon"]) == 0:
            return f"eval {head} clean"
        return f"eval {head} {s['attack']} {s['method']}"
    return task.key.split("-")[0]


def task_prior_s(task: Task) -> float:
    """Expected seconds of ``task`` on one core before any task of its kind has finished (the
    default comparison's measured costs, scaled by epochs, samples, time steps per sample, attack
    steps and EOT draws)."""
    s = task.spec
    if task.fn is compile_task:
        return _PRIOR_S["compile"]
    if task.fn is train_task:
        epochs = float(s["config"].get("epochs") or 1) * _sample_ratio(s, 0, s["config"].get("n_train"))
        return epochs * _PRIOR_S["train rate" if s["family"] == "rate" else "train spiking"]
    if task.fn is eval_task:
        return _eval_prior_s(s)
    if task.fn is craft_task:  # a rate model's attack on the samples of the spec
        return _PRIOR_S["eval rate"] * max(1.0, _attack_steps(s) / 10) * _sample_ratio(s, 1, s.get("n_eval"))
    return 1.0


def _attack_steps(s: dict) -> float:
    """Gradient steps (or their equivalent in queries) of an evaluation's attack; 0 when clean or
    when it only scores a craft task's images (a transfer attack)."""
    if s["attack"] == "clean" or float(s["epsilon"]) == 0 or s.get("craft_key"):
        return 0.0
    budget = s.get("budget", {})
    if "queries" in budget:
        return budget["queries"] / _QUERIES_PER_STEP
    return float(budget.get("steps", 1))


#: seconds of crafting one attack on a spiking model: (samples, samples x time steps, attack steps,
#: EOT draws) -> seconds (transfer: crafted on a rate model, negligible)
_ATTACK_COST = {
    "surrogate": lambda n, work, steps, eot: work * eot * steps * _PRIOR_S["gradient spiking"],
    "score": lambda n, work, steps, eot: work * steps * _QUERIES_PER_STEP * _PRIOR_S["forward spiking"],
    "rate-approx": lambda n, work, steps, eot: n * steps * _PRIOR_S["gradient rate"],
}


def _eval_prior_s(s: dict) -> float:
    steps = _attack_steps(s)
    if s["family"] == "rate":
        return _PRIOR_S["eval rate"] * max(1.0, steps / 10) * _sample_ratio(s, 1, s.get("n_eval"))
    c = s["config"]
    t_steps = float(c.get("t_present_ms") or 100) / float(c.get("dt_ms") or 1)  # simulated per sample
    n = float(s.get("n_eval") or 100)
    work = n * t_steps
    cost = work * (_PRIOR_S["predict spiking"] + _PRIOR_S["forward spiking"])  # Brian2 and the twin score
    eot = int(s.get("budget", {}).get("eot_samples") or s.get("eot_samples") or 1)
    if s["attack"] == "clean":  # the vanishing-gradient measurement: one gradient per sample and kind
        return cost + sum(_ATTACK_COST[k](n, work, 1.0, eot) for k in s.get("gradient_kinds", ()))
    return cost + _ATTACK_COST.get(s["attack"], lambda *a: 0.0)(n, work, steps, eot)


class WorkEstimate:
    """The work of a comparison in seconds of one worker: what is done, and what is expected.

    Counting tasks misleads (a compilation takes minutes, an evaluation of a rate model a tenth of
    a second), so a progress bar counts expected seconds instead: every task is weighted by its
    prior (:func:`task_prior_s`) times a factor learnt from the finished tasks (measured seconds
    over priors): its kind's once a task of that kind has finished (a cache hit, a slow rule),
    else the median of the factors of its family's kinds (this machine's speed for, say, the rate
    models, whose size the priors do not know: a 784-256-256 MLP's factor says nothing about a Brian2
    simulation), else 1 (the prior). ``done_s / elapsed`` is then the
    sweep's rate in worker-seconds per second and ``(total_s - done_s)`` over that rate its
    remaining time, whatever the number of workers.

    Example
    -------
    >>> from bridges.compare import CompareConfig, build_tasks
    >>> cfg = CompareConfig(rules=("bp", "fa"), seeds=(0,), epsilons=(0.0, 0.1), methods=("fgsm",))
    >>> work = WorkEstimate(build_tasks(cfg))
    >>> round(work.total_s, 2), work.done_s   # 2 trainings of 30 epochs (3.2 s), 7 evaluations + 1 crafting (0.085 s)
    (7.08, 0.0)
    >>> train = next(t for t in work.tasks if t.fn is train_task)
    >>> work.finish(train, {"seconds": 6.4})   # this machine takes twice the prior
    True
    >>> round(work.done_s, 2), round(work.total_s, 2)   # so everything left is expected to, too
    (6.4, 14.16)
    """

    def __init__(self, tasks: list[Task], results_dir: str | Path | None = None) -> None:
        self.tasks = list(tasks)
        self._prior = {t.key: task_prior_s(t) for t in self.tasks}
        self._kind = {t.key: task_kind(t) for t in self.tasks}
        self._family = {k: (k.split() + [None])[1] for k in self._kind.values()}  # "<what> <family> ..."
        self._seconds: dict[str, float] = {}
        self._fit: dict[str, list[float]] = {}  # kind -> [measured seconds, prior seconds]
        #: seconds of the tasks already finished when the estimate was made (a resumed run)
        self.initial_s = 0.0
        if results_dir is not None:
            from bridges.tasks import result_path

            for t in self.tasks:
                path = result_path(results_dir, t.key)
                if path.exists():
                    self.finish(t, read_json(path))
            self.initial_s = self.done_s

    def finish(self, task: Task, record: dict) -> bool:
        """Count a finished task (its ``record`` holds the measured ``seconds``); False if counted already."""
        if task.key in self._seconds:
            return False
        seconds = record.get("seconds")
        if not isinstance(seconds, (int, float)) or seconds < 0:
            seconds = self.expected_s(task)
        self._seconds[task.key] = float(seconds)
        fit = self._fit.setdefault(self._kind[task.key], [0.0, 0.0])
        fit[0] += float(seconds)
        fit[1] += self._prior[task.key]
        return True

    def expected_s(self, task: Task) -> float:
        """Expected seconds of a task not yet finished: its prior times the learnt factor."""
        fit = self._fit.get(self._kind[task.key])
        if fit is not None and fit[1] > 0:
            return self._prior[task.key] * fit[0] / fit[1]
        return self._prior[task.key] * self._machine_factor(self._family[self._kind[task.key]])

    def _machine_factor(self, family: str | None = None) -> float:
        factors = sorted(m / p for kind, (m, p) in self._fit.items() if p > 0 and self._family.get(kind) == family)
        if not factors:
            return 1.0
        mid = len(factors) // 2
        return factors[mid] if len(factors) % 2 else (factors[mid - 1] + factors[mid]) / 2

    @property
    def n_done(self) -> int:
        return len(self._seconds)

    @property
    def done_s(self) -> float:
        """Measured seconds of the finished tasks."""
        return float(sum(self._seconds.values()))

    @property
    def total_s(self) -> float:
        """Finished seconds plus the expected seconds of every task not yet finished."""
        pending = sum(self.expected_s(t) for t in self.tasks if t.key not in self._seconds)
        return self.done_s + pending
