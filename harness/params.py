"""Typed schema of params.yaml, the single source of truth every stage reads.

Each stage validates only the sections it reads (and declares exactly those as DVC params),
so ``dvc exp run -S train.lr=0.01`` re-runs only the stages that read ``train``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from harness.training.config import TrainConfig, reject_booleans_for_numbers
from harness.yaml_strict import DuplicateKeyError, load_yaml_strict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        return reject_booleans_for_numbers(cls, value, info.field_name)


class SurveySection(_Section):
    """Which survey this checkout runs."""

    profile: str
    """Name of the preset in registry/surveys.yaml that selected the stages of dvc.yaml."""


class DataSection(_Section):
    """Where real datasets live."""

    root: str
    """Folder holding the real datasets (each in its entry's ``data_dir``); relative to the repo."""


class RuntimeSection(_Section):
    """Where and how reproducibly stages compute."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto`` uses CUDA when present, else the CPU."""
    seed: int = 0
    """Base seed: data splits, initialisation and shuffling derive from it."""
    deterministic: bool = True
    """Ask PyTorch for deterministic kernels (bit-identical reruns on the same device)."""


class ReportSection(_Section):
    """The survey report."""

    title: str = "Deep-learning science survey"
    """Heading of reports/index.html."""


class LandscapeConfig(_Section):
    """2-D loss-landscape slices around each task-A solution (Li et al. 2018)."""

    slices: int = Field(default=5, ge=1)
    """Independent slices per trained model, each with its own recorded pair of direction seeds."""
    resolution: int = Field(default=50, ge=3)
    """G: points per axis; the grid is G × G over α, β ∈ [−span, span] (odd G puts a point on θ)."""
    span: float = Field(default=1.0, gt=0)
    """Half-width of the grid in units of the filter-normalized directions."""
    eval_samples: int = Field(default=1024, ge=2)
    """Size of the fixed, seeded subset of the task-A training split the loss is evaluated on."""
    ignore: Literal["biasbn", "none"] = "biasbn"
    """Direction policy for 1-D tensors (biases, normalization): zero (``biasbn``) or a copy (``none``);
    ≥2-D tensors are Gaussian rescaled per output filter/neuron to the weight slice's Frobenius norm."""
    batch_size: int = Field(default=1024, ge=1)
    """Evaluation batch size (samples per forward)."""
    points_per_batch: int = Field(default=1, ge=1)
    """Grid points evaluated at once with ``torch.func.vmap``: 1 on a CPU (measured faster), more on a GPU."""
    save_every_seconds: float = Field(default=5.0, gt=0)
    """How often a partial grid is written to the harness cache, so an interrupted slice resumes."""


class TopologyConfig(_Section):
    """Persistent homology of each slice's sublevel-set filtration."""

    noise_sigmas: float = Field(default=2.0, ge=0)
    """A bar counts as a feature when longer than this many times the slice's median per-point standard
    error of the loss (the evaluation subset's sampling noise)."""


class _FisherFields(_Section):
    """How a diagonal Fisher information is computed (``harness.measurements.curvature.fisher_information``)."""

    fisher_estimator: Literal["exact", "monte_carlo"] = "exact"
    """``exact``: Σ over all classes weighted by p(y|x); ``monte_carlo``: labels drawn from p(y|x)
    (``fisher_labels_per_input`` per input; its standard error is reported)."""
    fisher_labels_per_input: int = Field(default=1, ge=1)
    """Labels drawn per input by the ``monte_carlo`` estimator (ignored by ``exact``)."""
    fisher_memory_gib: float = Field(default=4.0, gt=0)
    """Memory budget (GiB) the per-(input, label) gradients are chunked to, beside the model and its
    data; the default is meant to leave room on a 24 GB card (not yet measured on one; `make gpu-check`
    checks the peak on yours). The chunking never changes the value."""


class CurvatureConfig(_FisherFields):
    """Curvature baselines at the task-A solution, on a fixed subset of the task-A training split."""

    samples: int = Field(default=512, ge=2)
    """Training examples the Hessian and Fisher are computed on (seeded subset)."""
    hutchinson_samples: int = Field(default=100, ge=2)
    """Rademacher vectors of the Hutchinson trace estimator (its standard error is reported)."""
    eigen_tol: float = Field(default=1e-3, gt=0)
    """Power iteration stops when (‖Hv − λv‖ / |λ|)² of its unit iterate, about the eigenvalue's relative
    error, falls below this."""
    eigen_max_iterations: int = Field(default=100, ge=1)
    """Cap on power iterations (the number used is reported)."""


class ForgettingConfig(_FisherFields):
    """Sequential training on task B from the task-A checkpoint: naive, EWC, cosine."""

    steps: list[int] = Field(default=[0, 10, 25, 50, 100, 250, 500, 1000, 5000], min_length=2)
    """Task-B optimizer steps after which task-A test accuracy is measured (0 = the task-A checkpoint);
    training runs to the last one."""
    early_window: int = Field(default=500, ge=1)
    """T of the early AURC: the last measured step of the early window."""
    retention_steps: list[int] = Field(default=[10, 100], min_length=1)
    """k of the reported ret@k = acc_A(k)/acc_A(0)."""
    batch_size: int = Field(default=128, ge=1)
    """Task-B mini-batch size."""
    lr: float = Field(default=0.01, gt=0)
    """Task-B learning rate: constant for naive and EWC, the peak of the cosine variant's decay."""
    momentum: float = Field(default=0.9, ge=0, lt=1)
    """SGD momentum on task B."""
    weight_decay: float = Field(default=0.0, ge=0)
    """L2 weight decay on task B (0: forgetting comes from task B alone, not from decay towards 0)."""
    ewc_lambda: float = Field(default=100.0, ge=0)
    """λ of the EWC penalty (λ/2)·Σ F_i (θ_i − θ_A,i)²."""
    fisher_samples: int = Field(default=512, ge=2)
    """Task-A training examples the EWC Fisher diagonal is computed on (eval mode)."""

    @model_validator(mode="after")
    def _steps_cover_the_metrics(self) -> ForgettingConfig:
        if self.steps[0] != 0 or self.steps != sorted(set(self.steps)):
            raise ValueError(f"steps must start at 0 and increase strictly, got {self.steps}")
        missing = sorted({self.early_window, *self.retention_steps} - set(self.steps))
        if missing:
            raise ValueError(f"early_window and retention_steps must be measured steps; {missing} are not")
        return self


TopologySummary = Literal[
    "h0_total_persistence",
    "h1_total_persistence",
    "h0_max_persistence",
    "h1_max_persistence",
    "h0_n_above_threshold",
    "h1_n_above_threshold",
    "h0_entropy",
    "h1_entropy",
]


class StatisticsConfig(_Section):
    """Experiment 1 statistics over every (architecture, dataset) pair's ``persist_metrics``."""

    retention_metrics: list[str] = Field(default=["ret@10", "ret@100", "early_aurc@500"], min_length=1)
    """Outcomes correlated with the 12 predictors (names as ``persist_forgetting`` writes them)."""
    variant: Literal["naive", "ewc", "cosine"] = "naive"
    """Sequential-training variant of the headline tables (every variant is computed and written)."""
    loao_target: str = "ret@100"
    """The retention metric the leave-one-architecture-out ridge models predict."""
    topology_summaries: list[TopologySummary] = Field(
        default=["h0_total_persistence", "h1_total_persistence", "h0_max_persistence", "h1_max_persistence"],
        min_length=1,
    )
    """Persistence summaries (slice means) forming the topology features of LOAO models B, C and D,
    each taken from Ripser (B, D) or the cubical complex (C); also the slice-robustness rows."""
    ladder: list[str] = Field(default=["wrn_28_1", "wrn_28_2", "wrn_28_4", "wrn_28_8", "wrn_28_10"])
    """The width ladder: architectures of one family and depth differing only in ``kwargs.width``."""
    level: float = Field(default=0.05, gt=0, lt=1)
    """Significance level of the family-wise (Bonferroni) tests and of 'B beats A2'."""
    n_permutations: int = Field(default=1000, ge=19)
    """Permutations of the incremental-value test (p resolution 1/(1 + n))."""
    ridge_alphas: list[float] = Field(default=[10.0**e for e in range(-3, 4)], min_length=1)
    """Ridge penalties searched by the inner cross-validation (features standardized)."""
    seed: int = 0
    """Seed of the permutations and of the matched-noise model A2."""


class PersistConfig(_Section):
    """Experiment 1 (PERSIST): landscape topology vs forgetting. Stages read one subsection each."""

    seeds: list[int] = Field(default=[0], min_length=1)
    """Task-A training seeds per (architecture, dataset): each is an independent run with its own stages."""
    task_a: TrainConfig
    """Training on the dataset's task-A classes (the shared loop: SGD + momentum, cosine, best by val)."""
    landscape: LandscapeConfig
    topology: TopologyConfig
    curvature: CurvatureConfig
    forgetting: ForgettingConfig
    statistics: StatisticsConfig

    @model_validator(mode="after")
    def _statistics_use_measured_metrics(self) -> PersistConfig:
        f = self.forgetting
        measured = {f"ret@{k}" for k in f.retention_steps} | {
            f"early_aurc@{f.early_window}",
            "forgetting",
            "max_drop",
        }
        wanted = [*self.statistics.retention_metrics, self.statistics.loao_target]
        unknown = [m for m in wanted if m not in measured]
        if unknown:
            raise ValueError(
                f"statistics.retention_metrics/loao_target name {unknown}, which persist.forgetting does not "
                f"measure; it measures {sorted(measured)}"
            )
        return self


class ProbeConfig(_Section):
    """Inputs whose module activations the PHI measures are estimated on."""

    probe_samples: int = Field(default=10000, ge=20)
    """N: seeded subset of the test split the MI estimates use (all of it when smaller)."""
    pca_samples: int = Field(default=5000, ge=10)
    """Seeded subset of the validation split each module's PCA is fitted on (separate from the probe)."""
    pca_dims: int = Field(default=64, ge=1)
    """d: principal components kept per module (fewer when the module or the fitting split is smaller)."""
    batch_size: int = Field(default=1000, ge=1)
    """Inputs per forward pass while capturing activations."""
    gaussian_dims: int = Field(default=6, ge=2, le=16)
    """q: components of the common PCA basis of a positions scheme for the past/present Gaussian measures
    (their MIPs are searched exhaustively over the 2^(q−1) − 1 bipartitions of the components)."""


class MutualInformationConfig(_Section):
    """The pairwise-MI estimates between modules, their intervals and the built-in calibration."""

    k: int = Field(default=5, ge=1)
    """KSG neighbours."""
    algorithm: Literal[1, 2] = 1
    """KSG algorithm (Kraskov et al. 2004): 1 (strict counts) or 2 (within marginal extents)."""
    standardize: bool = True
    """Z-score each module's components before KSG (it changes a max-norm estimate; recorded)."""
    noise: float = Field(default=1e-10, ge=0)
    """Seeded jitter (relative to each column's std) that breaks distance ties."""
    bootstrap: int = Field(default=200, ge=10)
    """Bootstrap resamples of the per-sample KSG terms for the Φ_pair interval (MIP re-searched each time)."""
    level: float = Field(default=0.95, gt=0, lt=1)
    """Confidence level of the bootstrap intervals."""
    calibration_rho: float = Field(default=0.5, gt=0, lt=1)
    """ρ of the correlated-Gaussian calibration pairs, run at each stage's own N and d."""
    mine_steps: int = Field(default=1000, ge=10)
    """Training steps of MINE in the calibration (the validation estimator)."""
    seed: int = 0
    """Seed of the jitter, the bootstrap, the calibration sample and MINE."""


class PciConfig(_Section):
    """Perturbational complexity: Gaussian noise at the first layer module, responses of the later ones."""

    noise_scale: float = Field(default=1.0, gt=0)
    """Injected noise std in units of each unit's std over the probe inputs (unperturbed)."""
    trials: int = Field(default=100, ge=2)
    """Trials (one probe input and one noise draw each): the columns of the binary matrix."""
    components: int = Field(default=8, ge=1)
    """Leading PCA components of each later module recorded: the matrix has modules × components rows."""
    threshold_quantile: float = Field(default=0.5, gt=0, lt=1)
    """A response is 1 when it exceeds this quantile of the unit's baseline: |difference| between the
    unperturbed responses to two different probe inputs (the noise-free trial-to-trial spread)."""
    seed: int = 0
    """Seed of the trials' inputs, the noise and the baseline pairs."""


class RobustnessConfig(_Section):
    """Adversarial robustness of the image networks at the end of training: PGD in an L∞ ball."""

    epsilon: float = Field(default=8 / 255, gt=0)
    """Radius of the L∞ ball, in input units (pixels scaled to [0, 1]): 8/255."""
    steps: int = Field(default=10, ge=1)
    """PGD iterations (after a uniform random start in the ball)."""
    step_size: float = Field(default=2 / 255, gt=0)
    """Signed-gradient step per iteration."""
    samples: int = Field(default=1000, ge=1)
    """Probe inputs attacked (the first of the seeded probe subset)."""
    seed: int = 0
    """Seed of the random start."""


class PhiStatisticsConfig(_Section):
    """Experiment 2 statistics across architectures."""

    n_boot: int = Field(default=1000, ge=10)
    """Bootstrap resamples of the transfer-threshold breakpoint."""
    seed: int = 0
    """Seed of that bootstrap."""
    level: float = Field(default=0.05, gt=0, lt=1)
    """Family-wise significance level (Bonferroni over the reported correlations)."""
    trajectory_tolerance: float = Field(default=0.05, ge=0)
    """Checkpoint-to-checkpoint changes smaller than this fraction of a trajectory's range are flat when
    classifying it as monotonic (no sign change), peaked (one) or oscillating (two or more)."""


class Checkpoints(RootModel[list[float]]):
    """Fractions of training (0 = initialization, 1 = the last step), distinct and increasing."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        return reject_booleans_for_numbers(cls, value, info.field_name)

    @model_validator(mode="after")
    def _fractions(self) -> Checkpoints:
        c = self.root
        if len(c) < 2 or any(not 0.0 <= f <= 1.0 for f in c) or sorted(set(c)) != c:
            raise ValueError(f"expected at least two distinct increasing fractions in [0, 1]; got {c}")
        return self


class PhiConfig(_Section):
    """Experiment 2 (PHI): integrated information across architectures. Stages read one subsection each."""

    train: TrainConfig
    """Training of each PHI network (the shared loop), with checkpoints at ``checkpoints``."""
    checkpoints: Checkpoints
    """Fractions of training at which weights and accuracies are kept, e.g. [0, 0.25, 0.5, 0.75, 1]."""
    probe: ProbeConfig
    mutual_information: MutualInformationConfig
    pci: PciConfig
    robustness: RobustnessConfig
    transfer: TrainConfig
    """Fine-tuning on the transfer target (a dataset's task B, or the profile's target dataset), from the
    source network and from scratch, with this same budget: Δ = test accuracy fine-tuned − from scratch."""
    statistics: PhiStatisticsConfig


class Optimizers(RootModel[dict[str, TrainConfig]]):
    """Named training budgets (e.g. ``sgd``, ``adam``); every capacity search runs once with each."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="after")
    def _named(self) -> Optimizers:
        bad = [k for k in self.root if not re.fullmatch(r"[a-z0-9_]+", k)]
        if not self.root or bad:
            raise ValueError(f"expected at least one budget named by [a-z0-9_]+; got {list(self.root)}")
        return self


class SearchConfig(_Section):
    """The capacity search: doubling from ``n_min`` (capped at ``n_max``), then bisection."""

    n_min: int = Field(ge=1)
    """Smallest number of samples tried (the search's first training)."""
    n_max: int = Field(ge=1)
    """Largest number of samples tried (at most the dataset's size); a network that fits it is censored."""
    precision: int = Field(ge=1)
    """Bisection stops when the bracket [fits, does not fit] is at most this many samples wide."""
    seeds: list[int] = Field(min_length=1)
    """One search per seed: it draws the labels, the samples' order and the initialization."""

    @model_validator(mode="after")
    def _range(self) -> SearchConfig:
        if self.n_min > self.n_max:
            raise ValueError(f"expected n_min <= n_max; got {self.n_min} > {self.n_max}")
        return self


class GenesisStatisticsConfig(_Section):
    """Experiment 3 fits across architectures (every interval is analytic: t intervals of log–log fits,
    Williams' test between laws, inverse regression for A_eff; see ``harness.statistics.power_law``)."""

    level: float = Field(default=0.95, gt=0, lt=1)
    """Confidence level of the intervals; the law comparison tests at 1 − level."""
    saturation_slope: float = Field(default=0.2, gt=0)
    """Depth sweep: s such that an exponent of capacity in V (ln C on ln V within the sweep) whose whole
    interval lies in (−s, s) means saturation (area law); an interval above 0 is growth (volume law),
    below 0 decline (an optimization limit)."""


class GenesisInformationConfig(_Section):
    """I(W; D_train) by MINE over an ensemble of memorization runs (``genesis_information``)."""

    optimizer: str
    """Which ``genesis.optimizers`` budget trains the ensemble (and whose capacity sets N)."""
    ensemble: int = Field(ge=8)
    """M networks, each on its own label draw; MINE cannot certify more than about ln M nats."""
    max_samples: int = Field(ge=1)
    """N = min(the network's median capacity, this)."""
    dims: int = Field(default=4, ge=1)
    """Dimensions of the fixed random projections of the weights and of the label sets."""
    steps: int = Field(default=100, ge=1)
    """MINE optimizer steps."""
    hidden: int = Field(default=64, ge=1)
    """Width of MINE's statistics network."""
    permutations: int = Field(default=99, ge=0)
    """Label-permutation null: MINE reruns with the label sets permuted across members (p resolution
    1/(1 + permutations); 0 skips the test)."""
    seed: int = 0
    """Seed of the sample order, the label draws (with the member index) and the projections."""


class DoubleDescentConfig(_Section):
    """Test error vs width at a fixed N with label noise (``genesis_double_descent``)."""

    n_train: int = Field(ge=2)
    """Training samples, drawn from the dataset's train split with ``seed``."""
    label_noise: float = Field(ge=0, lt=1)
    """Fraction of the training labels replaced by a different class."""
    seed: int = 0
    """Seed of the samples, the noise and every network's initialization."""
    budget: TrainConfig
    """Training of every width (until every noisy label is fitted or the budget ends)."""


class GenesisConfig(_Section):
    """Experiment 3 (GENESIS): memorization capacity against volume and boundary parameter counts."""

    optimizers: Optimizers
    """Training budget of one memorization run per optimizer; training stops at 100% training accuracy."""
    search: SearchConfig
    information: GenesisInformationConfig
    double_descent: DoubleDescentConfig
    statistics: GenesisStatisticsConfig

    @field_validator("information")
    @classmethod
    def _ensemble_budget(cls, value: GenesisInformationConfig, info: ValidationInfo):
        budgets = info.data.get("optimizers")  # absent when the optimizers themselves failed validation
        if budgets is not None and value.optimizer not in budgets.root:
            raise ValueError(
                f"optimizer {value.optimizer!r} is not a genesis.optimizers budget; expected one of {list(budgets.root)}"
            )
        return value


class SurveyParams(_Section):
    """The whole params.yaml."""

    survey: SurveySection
    data: DataSection
    runtime: RuntimeSection
    train: TrainConfig
    persist: PersistConfig
    phi: PhiConfig
    genesis: GenesisConfig
    report: ReportSection


def _model_fields(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """``model``'s fields whose type is itself a pydantic model, by name, in declaration order."""
    return {
        name: field.annotation
        for name, field in model.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }


SECTIONS: dict[str, type[BaseModel]] = _model_fields(SurveyParams)  # every top-level field is a model
SECTIONS.update(
    {
        f"{section}.{name}": annotation
        for section, config in (("persist", PersistConfig), ("phi", PhiConfig), ("genesis", GenesisConfig))
        for name, annotation in _model_fields(config).items()
    }
)
"""Sections a stage may read: the top-level ones and the experiments' subsections (``persist.landscape``)."""


class ParamsError(ValueError):
    """params.yaml (or a profile's preset) does not match the schema."""


def format_validation_error(err: ValidationError, origin: str, what: str = "parameters") -> str:
    """One line naming the origin, then one per bad field with pydantic's message and the value given."""
    lines = [f"{origin}: invalid {what}"]
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"])
        got = f" (got {e['input']!r})" if e["type"] != "missing" else ""
        lines.append(f"  - field '{field}': {e['msg']}{got}")
    return "\n".join(lines)


def validate_params(raw: Any, origin: str) -> SurveyParams:
    """Validate a whole params mapping; the error names the origin and every bad field."""
    try:
        return SurveyParams.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(format_validation_error(err, origin)) from None


def _load(path: str | Path) -> Any:
    """params.yaml parsed; a YAML syntax error or a duplicate key is a ParamsError naming file and line."""
    import yaml

    try:
        return load_yaml_strict(path)
    except DuplicateKeyError as err:
        raise ParamsError(str(err)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err)
        raise ParamsError(f"{where}: YAML syntax error: {problem}") from None


def read_section(name: str, path: str | Path = "params.yaml") -> Any:
    """Read and validate one section (``train``) or subsection (``persist.landscape``) of params.yaml."""
    raw = _load(path) or {}
    for part in name.split("."):
        if not isinstance(raw, dict) or part not in raw:
            raise ParamsError(f"{path}: missing section '{name}'")
        raw = raw[part]
    try:
        return SECTIONS[name].model_validate(raw)
    except ValidationError as err:
        raise ParamsError(
            format_validation_error(err, f"{path} [{name}]").replace("field '", f"field '{name}.")
        ) from None


def read_params(path: str | Path = "params.yaml") -> SurveyParams:
    """Read and validate the whole params.yaml."""
    return validate_params(_load(path), str(path))
