"""Cost estimate of every stage of a profile, in GPU-hours on a named card, and its wall-clock on K GPUs.

Unit costs are measured, never guessed: per (architecture, dataset) the seconds of one full-size training
step at batch 128 on the card, and, for the kinds that do other work, that work measured once on
resnet18 (CIFAR-100 head, 11.2M parameters) and scaled to another network by the ratio of their step
times. Sources, in order: ``docs/benchmarks-cuda.json`` (this project's `make gpu-check`: the
harness step per architecture) and ``docs/measurements/h200-2026-11-29-full-size.json`` (one H200,
2026-11-29: 4 harness steps per architecture with their validation and test passes, a 64-point
landscape, Hutchinson probes, power iterations, KSG; its step time is an upper bound).
A stage whose network has no measured step, or whose dataset size is set by its files, is listed as
unmeasured, never guessed. CPU stages (check, data, topology, metrics, statistics, report) cost no
GPU time and are listed as such.

Per kind (E epochs, B batch, s the step time at batch 128, r = s / s(resnet18); a forward-only pass
over one sample costs s / (3·128): a backward pass costs about two forwards, Kaplan et al. 2020):
- train, persist_task_a, phi_train: E·⌈n_train/B⌉·s·B/128 + E·n_val·s/(3·128); steps measured by this
  project's `make gpu-check` for the same input shape take precedence, and a network measured on
  one dataset is used for another with the same input shape (CIFAR-10/100 differ only in the head);
- persist_landscape: slices·resolution²·eval_samples·c_point·r (c_point measured per grid point and
  sample, ×1.64 when points are vmapped, as measured);
- persist_curvature: (hutchinson_samples·c_hvp + eigen_max_iterations·c_iter)·samples/1024·r + the
  Fisher over ``samples`` (c_fisher per sample at 100 classes, scaled by classes/100 and r);
- persist_forgetting: 3 variants × (max step·s·B/128 + evaluations) + the EWC Fisher;
- phi_measure: per checkpoint the probe forward + KSG over m modules (c_module·m + c_pair·m(m−1)/2,
  m = 144 as an upper bound: the project does not count modules before building the network) + PGD;
- phi_transfer: fine-tuning and training from scratch on the target;
- genesis_capacity: per optimizer and seed the search's trainings (doubling from n_min, then bisection
  to ``precision``), each E·⌈N/B⌉·s·B/128 (a failed training runs its whole budget); expected N* from
  0.15 bits per parameter (the embedded survey's median, docs/genesis.md), worst case N* just under
  n_max (the longest search);
- genesis_information: ensemble × E·⌈max_samples/B⌉·s·B/128 (networks trained one after another: an
  upper bound where stacking applies);
- genesis_double_descent: per width E·⌈n_train/B⌉·s·B/128 of the family's base entry, scaled by
  width / base width (the step time of wider networks is not measured).
Wall-clock on K GPUs: the DAG of dvc.yaml list-scheduled on K GPUs (longest chain first, as `harness
run` does); never below the critical path.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from harness.params import SurveyParams, TrainConfig
from harness.pipeline.selection import (
    parse_pair,
    parse_run,
    phi_transfer_targets,
    train_pairs,
)
from harness.registry.load import Registries

COST_FILES = {"cpu": "docs/benchmarks.json", "cuda": "docs/benchmarks-cuda.json"}
CARD_FIGURES = "docs/measurements/h200-2026-11-29-full-size.json"
REFERENCE = ("resnet18", "cifar100")
CPU_KINDS = {
    "check",
    "data",
    "persist_topology",
    "persist_metrics",
    "persist_statistics",
    "phi_statistics",
    "genesis_statistics",
    "report",
}
BITS_PER_PARAMETER = 0.15
"""Expected capacity of a capacity search: the embedded survey's median bits per parameter."""
KSG_MODULES_BOUND = 144
VMAP_FACTOR = 1.642
"""Measured on the H200: a 64-point resnet18 grid with 8 points per vmap batch takes 1.64× the point loop."""


class StageCost(NamedTuple):
    stage: str
    steps: int
    seconds: float | None
    """None when no step cost was measured for this (architecture, size, input) on the device, or the
    dataset's size is set by its files (``samples: null``)."""


class StageEstimate(NamedTuple):
    stage: str
    kind: str
    seconds: float | None
    """Expected GPU seconds on the card; 0 for a CPU stage; None when unmeasured."""
    worst_seconds: float | None
    note: str


class CardFigures(NamedTuple):
    """Unit costs on one card: step seconds at batch 128 per (architecture, dataset), and the resnet18
    figures the other kinds scale from."""

    card: str
    step_s: dict[tuple[str, str], float]
    params: dict[tuple[str, str], int]
    point_sample_s: float
    hvp_s: float
    iteration_s: float
    fisher_sample_s: float
    ksg_module_s: float
    ksg_pair_s: float
    source: str


StepKey = tuple[str, str, tuple[int, ...]]


def load_step_costs(path: str | Path) -> tuple[dict[StepKey, tuple[float, int]], str]:
    """(architecture, size, input shape) -> (seconds per harness step, batch measured), and the device."""
    path = Path(path)
    if not path.exists():
        return {}, ""
    data = json.loads(path.read_text())
    machine = data.get("machine", {})
    device = str(machine.get("gpu") or machine.get("cpu_model") or machine.get("cpu") or "")
    costs = {
        (r["architecture"], r["size"], tuple(r["shape"])): (r["harness_step_ms"] / 1e3, int(r["batch"]))
        for r in data.get("steps", [])
    }
    return costs, device


def load_card_figures(repo: str | Path = ".") -> CardFigures | None:
    """The card's unit costs: the project's own `make gpu-check` steps override the shared
    H200 figures architecture by architecture. None when neither file exists."""
    path = Path(repo) / CARD_FIGURES
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    step = {(a["arch"], a["dataset"]): a["second_s"] / 4 for a in data["archs"] if a["status"] == "ok"}
    params = {(a["arch"], a["dataset"]): int(a["params"]) for a in data["archs"] if a["status"] == "ok"}
    land = data["landscape"][0]
    curv, ksg = data["curvature"], data["ksg"]
    precision = json.loads((path.parent / "h200-2026-11-29-forward-precision.json").read_text())
    fisher = float(precision["fisher_resnet18_batch2"]["s_per_sample"])  # exact Fisher, 100 classes
    return CardFigures(
        card=str(data["env"]["device"]),
        step_s=step,
        params=params,
        point_sample_s=land["grid_ppb1_s"] / (land["points"] * land["samples"]),
        hvp_s=curv["resnet18_trace_5probes_s"] / 5,
        iteration_s=curv["resnet18_eig_5it_s"] / 5,
        fisher_sample_s=fisher,
        ksg_module_s=ksg["per_module_s"],
        ksg_pair_s=ksg["per_pair_s"],
        source=CARD_FIGURES,
    )


def estimate_train(
    reg: Registries, params: SurveyParams, device: str, repo: str | Path = "."
) -> list[StageCost]:
    """Per-stage cost of the profile's train stages on ``device`` ("cpu" or "cuda") from the project's
    own `make gpu-check` step times."""
    from harness.registry.adaptation import plan_adaptation

    costs, _ = load_step_costs(Path(repo) / COST_FILES[device])
    cfg = params.train
    out = []
    for pair in train_pairs(reg, params.survey.profile):
        ds = reg.datasets[pair.dataset]
        n_train = ds.split.train_samples(ds.samples)
        steps = 0 if n_train is None else cfg.epochs * math.ceil(n_train / cfg.batch_size)
        shape = tuple(plan_adaptation(ds, reg.architectures[pair.arch], cfg.size).shape)
        measured = costs.get((pair.arch, cfg.size, shape))
        seconds = (
            None if measured is None or not steps else steps * measured[0] * cfg.batch_size / measured[1]
        )
        out.append(StageCost(f"train@{pair.key}", steps, seconds))
    return out


class _Model:
    """The per-kind formulas of the module docstring, for one profile on one card."""

    def __init__(
        self, reg: Registries, params: SurveyParams, card: CardFigures, own: dict[tuple[str, tuple], float]
    ):
        self.reg, self.p, self.card, self.own = reg, params, card, own
        self.ref = card.step_s[REFERENCE]

    def step(self, arch: str, dataset: str) -> float | None:
        """Seconds per step at batch 128: measured for this pair, else for the same network on a dataset
        with the same input shape (CIFAR-10 and CIFAR-100 differ only in the head)."""
        from harness.registry.adaptation import plan_adaptation

        if self.own and arch in self.reg.architectures and dataset in self.reg.datasets:
            try:
                plan = plan_adaptation(self.reg.datasets[dataset], self.reg.architectures[arch])
            except ValueError:  # the network cannot take this dataset: nothing to look up
                return None
            if (arch, tuple(plan.shape)) in self.own:  # this project's own `make gpu-check`
                return self.own[(arch, tuple(plan.shape))]
        if (arch, dataset) in self.card.step_s:
            return self.card.step_s[(arch, dataset)]
        shape = self.reg.datasets[dataset].shape
        same = [
            t
            for (a, d), t in self.card.step_s.items()
            if a == arch and d in self.reg.datasets and self.reg.datasets[d].shape == shape
        ]
        return max(same) if same else None

    def sizes(self, dataset: str) -> tuple[int, int] | None:
        ds = self.reg.datasets[dataset]
        n_train = ds.split.train_samples(ds.samples)
        if n_train is None or ds.samples is None:
            return None
        return n_train, round(ds.split.val_fraction * ds.samples)

    @staticmethod
    def steps(s: float, epochs: int, n: int, batch: int) -> float:
        """``epochs`` passes over ``n`` samples: ⌈n/batch⌉ steps of s·batch/128 seconds each."""
        return epochs * math.ceil(n / batch) * s * batch / 128

    def training(self, s: float, cfg: TrainConfig, n_train: int, n_val: int) -> float:
        return self.steps(s, cfg.epochs, n_train, cfg.batch_size) + cfg.epochs * n_val * s / 384

    def fisher(self, s: float, dataset: str, samples: int) -> float:
        return (
            samples
            * self.card.fisher_sample_s
            * (s / self.ref)
            * self.reg.datasets[dataset].num_classes
            / 100
        )

    def pair_stage(self, kind: str, arch: str, dataset: str) -> tuple[float | None, float | None, str]:
        s, sizes = self.step(arch, dataset), self.sizes(dataset)
        if s is None:
            return None, None, f"unmeasured: no full-size step of {arch} on {dataset}"
        if sizes is None and kind not in ("persist_landscape", "persist_curvature", "genesis_information"):
            return None, None, f"unmeasured: {dataset}'s size is set by its files"
        n_train, n_val = sizes or (0, 0)
        p, ds = self.p, self.reg.datasets[dataset]
        task_a = len(ds.tasks.task_a) / ds.num_classes if ds.tasks else 1.0
        if kind == "train":
            t = self.training(s, p.train, n_train, n_val)
        elif kind == "persist_task_a":
            t = self.training(s, p.persist.task_a, round(n_train * task_a), round(n_val * task_a))
        elif kind == "persist_landscape":
            c = p.persist.landscape
            factor = VMAP_FACTOR if c.points_per_batch > 1 else 1.0
            t = c.slices * c.resolution**2 * c.eval_samples * self.card.point_sample_s * factor * s / self.ref
        elif kind == "persist_curvature":
            c = p.persist.curvature
            hv = c.hutchinson_samples * self.card.hvp_s + c.eigen_max_iterations * self.card.iteration_s
            t = hv * c.samples / 1024 * s / self.ref + self.fisher(s, dataset, c.samples)
        elif kind == "persist_forgetting":
            c = p.persist.forgetting
            evaluations = len(c.steps) * n_val * s / 384
            t = 3 * (max(c.steps) * s * c.batch_size / 128 + evaluations) + self.fisher(
                s, dataset, c.fisher_samples
            )
        elif kind == "phi_train":
            t = self.training(s, p.phi.train, n_train, n_val)
        elif kind == "phi_measure":
            m = KSG_MODULES_BOUND
            ksg = self.card.ksg_module_s * m + self.card.ksg_pair_s * m * (m - 1) / 2
            per_checkpoint = p.phi.probe.probe_samples * s / 384 + ksg
            pgd = p.phi.robustness.samples * p.phi.robustness.steps * s / 128
            t = len(p.phi.checkpoints.root) * per_checkpoint + pgd
            return t, t, f"KSG over at most {m} modules per checkpoint (an upper bound)"
        elif kind == "phi_transfer":
            target = phi_transfer_targets(self.reg, p.survey.profile).get(dataset, dataset)
            sizes_t = self.sizes(target)
            if sizes_t is None:
                return None, None, f"unmeasured: {target}'s size is set by its files"
            s_target = self.step(arch, target) or s  # the target's own step where measured
            t = 2 * self.training(s_target, p.phi.transfer, *sizes_t)
        elif kind == "genesis_capacity":
            return self.capacity(arch, dataset, s)
        elif kind == "genesis_information":
            c = p.genesis.information
            budget = p.genesis.optimizers.root[c.optimizer]
            t = c.ensemble * self.steps(s, budget.epochs, c.max_samples, budget.batch_size)
            return t, t, "ensemble members trained one after another (stacking makes MLPs faster)"
        else:
            return None, None, f"no cost model for {kind}"
        return t, t, ""

    def capacity(self, arch: str, dataset: str, s: float) -> tuple[float, float, str]:
        g = self.p.genesis
        v = self.card.params.get((arch, dataset), 0)
        bits = math.log2(self.reg.datasets[dataset].num_classes)
        expected_n = min(g.search.n_max, max(g.search.n_min, round(v * BITS_PER_PARAMETER / bits)))

        def search(n_star: int) -> list[int]:
            """Sizes the search trains at: doubling from n_min to the first failure (or n_max, where it
            stops: "at least n_max"), then bisection down to ``precision``."""
            sizes, n = [], g.search.n_min
            while True:
                sizes.append(min(n, g.search.n_max))
                if n > n_star or n >= g.search.n_max:
                    break
                n *= 2
            if n_star >= g.search.n_max:
                return sizes
            gap = min(n, g.search.n_max) - n // 2
            return sizes + [n_star] * max(0, math.ceil(math.log2(max(1, gap / g.search.precision))))

        def cost(n_star: int) -> float:
            return len(g.search.seeds) * sum(
                self.steps(s, b.epochs, n, b.batch_size)
                for b in g.optimizers.root.values()
                for n in search(n_star)
            )

        return (
            cost(expected_n),
            max(cost(n) for n in (expected_n, g.search.n_max - g.search.precision, g.search.n_max)),
            f"expected N* = V·{BITS_PER_PARAMETER} bits / log2 K (worst: N* just under n_max)",
        )

    def double_descent(self) -> tuple[float | None, float | None, str]:
        sel = self.reg.profiles[self.p.survey.profile].genesis
        dd = sel.double_descent if sel is not None else None
        if dd is None:
            return 0.0, 0.0, ""
        s = self.step(dd.architecture, dd.dataset)
        if s is None:
            return None, None, f"unmeasured: no full-size step of {dd.architecture} on {dd.dataset}"
        c = self.p.genesis.double_descent
        base_width = float(self.reg.architectures[dd.architecture].kwargs.get("width", dd.widths[0]))
        # step time scales with parameters ~ width (first layer dominates at these input sizes)
        t = sum(
            self.steps(s, c.budget.epochs, c.n_train, c.budget.batch_size) * max(1.0, w / base_width)
            for w in dd.widths
        )
        return t, t, f"{len(dd.widths)} widths, step time scaled by width"


def _stage_arch_dataset(kind: str, key: str) -> tuple[str, str]:
    if kind.startswith("persist_") and kind != "persist_metrics":
        run = parse_run(key)
        return run.arch, run.dataset
    pair = parse_pair(key)
    return pair.arch, pair.dataset


def estimate_stages(
    reg: Registries, params: SurveyParams, repo: str | Path = ".", pipeline: dict[str, Any] | None = None
) -> tuple[list[StageEstimate], str]:
    """One estimate per stage of the profile's dvc.yaml (``pipeline``: its mapping, generated when not
    given), and the card they are for."""
    from harness.pipeline.generate import build_pipeline

    card = load_card_figures(repo)
    own_costs, own_card = load_step_costs(Path(repo) / COST_FILES["cuda"])
    own = {
        (arch, shape): sec * 128 / batch
        for (arch, size, shape), (sec, batch) in own_costs.items()
        if size == "full"
    }
    pipeline = pipeline or build_pipeline(reg, params, repo)
    names = list(expand_stages(pipeline))
    out = []
    model = _Model(reg, params, card, own) if card else None
    for name in names:
        kind, _, key = name.partition("@")
        if kind in CPU_KINDS:
            out.append(StageEstimate(name, kind, 0.0, 0.0, "CPU stage"))
            continue
        if model is None:
            out.append(StageEstimate(name, kind, None, None, f"unmeasured: no {CARD_FIGURES}"))
            continue
        if kind == "genesis_double_descent":
            t, w, note = model.double_descent()
        else:
            arch, dataset = _stage_arch_dataset(kind, key)
            t, w, note = model.pair_stage(kind, arch, dataset)
        out.append(StageEstimate(name, kind, t, w, note))
    return out, (own_card or (card.card if card else ""))


# -- the DAG of dvc.yaml, and its wall-clock on K GPUs ----------------------------------------------------

_ITEM = re.compile(r"\$\{item\.(\w+)(?:\[(\d+)\])?\}")


def _substitute(text: str, key: str, item: Any) -> str:
    text = text.replace("${key}", key)
    if not isinstance(item, dict):
        return text.replace("${item}", str(item))

    def field(match: re.Match) -> str:
        value = item[match.group(1)]
        return str(value[int(match.group(2))] if match.group(2) is not None else value)

    return _ITEM.sub(field, text)


def expand_stages(pipeline: dict[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    """Stage name → (deps, outs) with ``foreach`` groups expanded as DVC expands them (``group@key``;
    ``${key}`` and ``${item.field[i]}`` substituted; other ``${…}`` left as written)."""

    def paths(entries: Iterable[Any]) -> list[str]:
        return [next(iter(e)) if isinstance(e, dict) else str(e) for e in entries]

    def outputs(spec: dict[str, Any]) -> list[str]:
        return paths([*spec.get("outs", []), *spec.get("metrics", []), *spec.get("plots", [])])

    stages: dict[str, tuple[list[str], list[str]]] = {}
    for group, spec in pipeline["stages"].items():
        if "foreach" not in spec:
            stages[group] = (paths(spec.get("deps", [])), outputs(spec))
            continue
        items = spec["foreach"]
        for key, item in items.items() if isinstance(items, dict) else ((str(i), i) for i in items):
            do = spec["do"]
            deps = [_substitute(d, key, item) for d in paths(do.get("deps", []))]
            outs = [_substitute(o, key, item) for o in outputs(do)]
            stages[f"{group}@{key}"] = (deps, outs)
    return stages


def upstream_stages(stages: dict[str, tuple[list[str], list[str]]]) -> dict[str, set[str]]:
    """Stage → the stages producing one of its deps (a dep equal to, or inside, another stage's output)."""
    producers = {out.rstrip("/"): name for name, (_, outs) in stages.items() for out in outs}
    upstream: dict[str, set[str]] = {}
    for name, (deps, _) in stages.items():
        found = set()
        for dep in deps:
            parts = dep.rstrip("/").split("/")
            for i in range(len(parts), 0, -1):
                owner = producers.get("/".join(parts[:i]))
                if owner is not None:
                    found.add(owner)
                    break
        upstream[name] = found - {name}
    return upstream


def makespan(durations: dict[str, float], upstream: dict[str, set[str]], gpus: int) -> float:
    """Seconds to run the DAG on ``gpus`` identical GPUs, list-scheduled longest-chain-first (each stage on
    one GPU; a stage starts when its upstream stages have finished and a GPU is free)."""
    downstream: dict[str, list[str]] = {s: [] for s in durations}
    for s, ups in upstream.items():
        for u in ups:
            downstream[u].append(s)
    rank: dict[str, float] = {}

    def chain(s: str) -> float:
        if s not in rank:
            rank[s] = durations[s] + max((chain(d) for d in downstream[s]), default=0.0)
        return rank[s]

    for s in durations:
        chain(s)
    waiting = {s: len(upstream[s]) for s in durations}
    ready = [(-rank[s], s) for s in durations if waiting[s] == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now, free = 0.0, gpus
    while ready or running:
        while ready and free:
            _, s = heapq.heappop(ready)
            heapq.heappush(running, (now + durations[s], s))
            free -= 1
        now, s = heapq.heappop(running)
        free += 1
        for d in downstream[s]:
            waiting[d] -= 1
            if waiting[d] == 0:
                heapq.heappush(ready, (-rank[d], d))
    return now


def render_estimate(
    reg: Registries, params: SurveyParams, figures: str | Path = ".", gpus: tuple[int, ...] = (8, 64)
) -> str:
    """Per stage kind and in total: expected (and worst-case) GPU-hours on the card, the stages nobody has
    measured, and the wall-clock on each of ``gpus`` GPUs. ``figures``: the folder whose docs/ holds the
    measured unit costs (the pipeline itself is generated from the checkout in the working directory)."""
    from harness.pipeline.generate import build_pipeline

    pipeline = build_pipeline(reg, params, ".")
    rows, card = estimate_stages(reg, params, figures, pipeline)
    lines = [f"Cost estimate for profile {params.survey.profile!r} on {card or 'no measured card'}:"]
    kinds: dict[str, list[StageEstimate]] = {}
    for r in rows:
        kinds.setdefault(r.kind, []).append(r)
    lines.append(f"  {'stage kind':24s} {'stages':>6s} {'GPU-h expected':>15s} {'GPU-h worst':>12s}  notes")
    for kind, rs in kinds.items():
        known = [r for r in rs if r.seconds is not None]
        unmeasured = len(rs) - len(known)
        exp = sum(r.seconds for r in known) / 3600  # type: ignore[misc]
        worst = sum(r.worst_seconds or 0.0 for r in known) / 3600
        notes = "CPU stage" if kind in CPU_KINDS else (f"{unmeasured} unmeasured" if unmeasured else "")
        extra = next((r.note for r in known if r.note and kind not in CPU_KINDS), "")
        if unmeasured and not known:
            notes = f"unmeasured ({rs[0].note.removeprefix('unmeasured: ')})"
        lines.append(
            f"  {kind:24s} {len(rs):6d} {exp:15.1f} {worst:12.1f}  {'; '.join(x for x in (notes, extra) if x)}"
        )
    known = [r for r in rows if r.seconds is not None]
    total = sum(r.seconds for r in known) / 3600  # type: ignore[misc]
    worst = sum(r.worst_seconds or 0.0 for r in known) / 3600
    missing = [r.stage for r in rows if r.seconds is None]
    lines.append(
        f"  {'total':24s} {len(rows):6d} {total:15.1f} {worst:12.1f}  ({len(missing)} stage(s) unmeasured)"
    )
    stages = expand_stages(pipeline)
    upstream = upstream_stages(stages)
    durations = {r.stage: r.seconds or 0.0 for r in rows}
    worst_d = {r.stage: r.worst_seconds or 0.0 for r in rows}
    for k in gpus:
        lines.append(
            f"  on {k} GPUs: {makespan(durations, upstream, k) / 3600:.1f} h expected, "
            f"{makespan(worst_d, upstream, k) / 3600:.1f} h worst case (unmeasured stages count as 0)"
        )
    lines.append(f"  critical path: {makespan(durations, upstream, len(rows)) / 3600:.1f} h")
    if missing:
        lines.append(f"  unmeasured: {', '.join(missing[:12])}{' …' if len(missing) > 12 else ''}")
    return "\n".join(lines)
