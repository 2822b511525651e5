"""Typed schemas of the registry files (pydantic v2, unknown keys forbidden).

One YAML file per registry; each top-level mapping is ``{registry_name: {key: entry}}``.
Keys are ``[a-z0-9_]+`` because stage names join them with ``-`` and ``@``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

KEY_PATTERN = r"^[a-z0-9_]+$"
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
CodeRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]
"""``package.module:function``, resolved lazily (nothing registers itself on import)."""

Modality = Literal["vector", "image", "sequence", "graph"]
Experiment = Literal["persist", "phi", "genesis"]
Family = Literal[
    "mlp",
    "cnn",
    "resnet",
    "wrn",
    "vgg",
    "densenet",
    "mobilenet",
    "shufflenet",
    "efficientnet",
    "convnext",
    "vit",
    "transformer",
    "rnn",
    "gnn",
]
"""Architecture families, a closed set: the statistics group and compare by family (GENESIS's MLP depth
sweeps and transformer exponents, the report's tables), so a misspelt family would silently leave an
entry out of its group. A new family is one line here."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ArchitectureEntry(StrictModel):
    """One architecture: the builder that makes it and the keyword arguments it is built with."""

    builder: CodeRef
    """Function returning an ``nn.Module``, e.g. ``harness.models.mlp:build_mlp``."""
    family: Family
    """Architecture family, one of :data:`Family` (mlp, cnn, resnet, wrn, vit, transformer, rnn, gnn, ...)."""
    input: Modality
    """The input kind the network consumes; the harness adapts datasets by a declared rule."""
    image_channels: int | None = Field(default=None, ge=1)
    """Image input: channels the network takes (grayscale data is repeated to match); None = the data's."""
    image_size: int | None = Field(default=None, ge=1)
    """Image input: square resolution the network takes (data is resized to it); None = the data's."""
    tiny_image_size: int | None = Field(default=None, ge=1)
    """Image input at tiny (CPU) size: the resolution the tiny build takes instead of ``image_size``; None =
    ``image_size``. For networks whose downsampling allows it, this spares the embedded survey forwards on
    8x8 images bilinearly upsampled to 32x32 (16x the arithmetic, no more information)."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the builder at full (research-plan) size."""
    tiny: dict[str, Any] = Field(default_factory=dict)
    """Overrides of ``kwargs`` for the CPU-sized build used by the embedded survey and tests."""
    experiments: list[Experiment] = Field(default_factory=list)
    """Experiments whose surveys include this architecture."""
    version: int = 1
    """Bump to invalidate every cached result of this entry."""
    description: str = ""
    """One line a reader of the report sees."""
    extends: Key | None = None
    """Base entry this variant extends (one level deep); the variant lists only what differs."""


class SplitSpec(StrictModel):
    """Seeded, stratified train/validation/test split fractions."""

    val_fraction: float = Field(gt=0, lt=1)
    """Fraction of the samples held out for validation (best-checkpoint selection)."""
    test_fraction: float | None = Field(default=None, gt=0, lt=1)
    """Fraction held out for the reported test accuracy; omit to use the dataset's official test split."""
    official_test_samples: int | None = Field(default=None, ge=1)
    """Size of the official test split, when ``test_fraction`` is omitted (checked against the loader)."""
    official_test: bool = False
    """Use the official test split without declaring its size (when the files set it, e.g. text windows)."""

    @model_validator(mode="after")
    def _one_test_split(self) -> SplitSpec:
        given = [self.test_fraction is not None, self.official_test_samples is not None, self.official_test]
        if sum(given) != 1:
            raise ValueError(
                "give exactly one of test_fraction, official_test_samples and official_test: true"
            )
        return self

    def train_samples(self, samples: int | None) -> int | None:
        """Training-split size for ``samples`` in all (None when the sizes are set by the files)."""
        if samples is None or self.official_test:
            return None
        test = self.official_test_samples or round(self.test_fraction * samples)  # type: ignore[operator]
        return samples - test - round(self.val_fraction * samples)


class ContinualSplit(StrictModel):
    """Two disjoint class subsets: task A, then task B, each relabelled 0..n-1 in the listed order."""

    task_a: list[int] = Field(min_length=2)
    """Classes of task A (original labels)."""
    task_b: list[int] = Field(min_length=2)
    """Classes of task B (original labels)."""

    @model_validator(mode="after")
    def _disjoint(self) -> ContinualSplit:
        for name, classes in (("task_a", self.task_a), ("task_b", self.task_b)):
            if len(set(classes)) != len(classes) or min(classes) < 0:
                raise ValueError(f"{name} must list distinct non-negative class labels")
        if set(self.task_a) & set(self.task_b):
            raise ValueError(f"task_a and task_b share classes {sorted(set(self.task_a) & set(self.task_b))}")
        return self


class DatasetEntry(StrictModel):
    """One dataset: its loader, what a sample looks like, and how it is split."""

    loader: CodeRef
    """Function returning a ``harness.data.ArrayDataset``."""
    modality: Modality
    """What one sample is."""
    shape: list[int] = Field(min_length=1)
    """Shape of one input sample, e.g. ``[1, 8, 8]`` (channels, height, width) or ``[16]``."""
    num_classes: int = Field(ge=2)
    """Number of target classes."""
    vocab_size: int | None = Field(default=None, ge=2)
    """Sequence data: number of distinct token ids (inputs are ids in [0, vocab_size))."""
    samples: int | None = Field(ge=2)
    """Total number of samples, all splits together (checked against the loader; used for cost estimates);
    null where the files set it (text cut into windows): then unchecked, and no cost estimate."""
    embedded: bool
    """True when the data ships with an installed package or is generated (no download)."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the loader."""
    split: SplitSpec
    """Train/validation/test split."""
    data_dir: str | None = None
    """Real datasets: folder under ``data.root`` holding the files (hashed into the manifest)."""
    source: str = ""
    """Real datasets: where to obtain the files and how to lay them out."""
    tasks: ContinualSplit | None = None
    """Continual-learning split into task A and task B (sequential-forgetting experiments)."""
    random_labels: int | None = None
    """Replace every label by one drawn uniformly from the classes with this seed (memorization)."""
    extends: Key | None = None
    """Base entry this variant extends (one level deep), e.g. a random-label variant."""
    version: int = 1
    """Bump to invalidate every cached result that uses this dataset."""
    description: str = ""
    """One line a reader of the report sees."""


class MeasurementEntry(StrictModel):
    """One measurement: a pure function of a model or arrays, returning numbers."""

    function: CodeRef
    """The pure function, e.g. ``harness.measurements.basic:test_accuracy``."""
    units: str
    """Units of the result (fraction, nats, bits, count, ...)."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments passed to the function."""
    version: int = 1
    """Bump to invalidate every cached result of this measurement."""
    description: str = ""
    """What it measures, with the formula's source."""


class Selection(StrictModel):
    """Which registry entries one stage kind runs over."""

    architectures: Literal["all"] | list[Key]
    """``all`` (every entry whose input is compatible with the dataset) or an explicit list."""
    experiments: list[Experiment] = Field(default_factory=list)
    """When given, keep only architectures that belong to one of these experiments."""
    exclude: list[Key] = Field(default_factory=list)
    """Architectures left out of ``all`` (e.g. an embedded survey's CPU stand-in in the full profile)."""
    datasets: list[Key] = Field(min_length=1)
    """Datasets to cross with the architectures."""
    measurements: list[Key] = Field(default_factory=list)
    """Measurements the stage records for every (architecture, dataset) pair."""


class PhiSelection(Selection):
    """The PHI selection, and where each dataset's transfer Δ goes."""

    transfer_targets: dict[Key, Key] = Field(default_factory=dict)
    """Source dataset → target dataset of ``phi_transfer`` (e.g. ``cifar10: cifar100``): the network
    ``phi_train`` trained on the source (its last checkpoint) is fine-tuned on the target and compared with
    one trained on the target from scratch. The target takes the source's inputs (same modality, shape and
    vocabulary); tensors whose shapes differ (the head) start from the scratch network's initialization. A
    selected dataset without a target transfers from its task A to its task B."""


class DoubleDescentSelection(StrictModel):
    """One family's widths for the double-descent stage."""

    architecture: Key
    """The family's base entry; every width overrides its ``width`` (after the tiny overrides)."""
    dataset: Key
    """A dataset with a train and test split the architecture can take."""
    widths: list[int] = Field(min_length=3)
    """Increasing widths."""

    @model_validator(mode="after")
    def _increasing(self) -> DoubleDescentSelection:
        if sorted(set(self.widths)) != self.widths or self.widths[0] < 1:
            raise ValueError(f"expected distinct increasing positive widths; got {self.widths}")
        return self


class GenesisSelection(Selection):
    """The GENESIS selection, and the family of its double-descent stage."""

    double_descent: DoubleDescentSelection | None = None
    """Test error vs width at a fixed N with label noise; no stage when absent."""


class SurveyProfile(StrictModel):
    """A preset: which entries each stage runs over, and the params.yaml it writes."""

    description: str
    """What this profile is for and how long it takes."""
    train: Selection
    """Task training (experiment-independent)."""
    persist: Selection | None = None
    """Experiment 1 (PERSIST): task-A training, landscapes, topology, curvature and forgetting stages
    over these (architecture, dataset) pairs, one run per ``persist.seeds`` entry; none when absent."""
    phi: PhiSelection | None = None
    """Experiment 2 (PHI): training with checkpoints and the integrated-information measures over these
    pairs; its ``measurements`` are the partition schemes (``function`` in harness.measurements.modules)."""
    genesis: GenesisSelection | None = None
    """Experiment 3 (GENESIS): a memorization-capacity search over these pairs (the dataset's inputs with
    labels redrawn per seed), once per ``genesis.optimizers`` budget and ``genesis.search.seeds`` entry."""
    params: dict[str, Any]
    """The complete params.yaml this profile writes (validated against ``harness.params``)."""


REGISTRY_FILES: dict[str, str] = {
    "architectures": "architectures.yaml",
    "datasets": "datasets.yaml",
    "measurements": "measurements.yaml",
    "profiles": "surveys.yaml",
}
"""Registry name -> file name inside ``registry/``."""

ENTRY_MODELS: dict[str, type[StrictModel]] = {
    "architectures": ArchitectureEntry,
    "datasets": DatasetEntry,
    "measurements": MeasurementEntry,
    "profiles": SurveyProfile,
}

BUILDER_INPUTS: dict[str, tuple[str, ...]] = {
    "vector": ("in_features", "num_classes"),
    "image": ("in_channels", "image_size", "num_classes"),
    "sequence": ("vocab_size", "seq_len", "num_classes"),
    "graph": ("in_features", "num_classes"),
}
"""Arguments the harness passes to every builder of an input kind, from the dataset entry."""

JOINABLE_MODALITIES: frozenset[tuple[str, str]] = frozenset(
    {
        ("vector", "vector"),
        ("image", "image"),
        ("sequence", "sequence"),
        ("graph", "graph"),
        ("image", "vector"),
    }
)
"""(dataset modality, architecture input) pairs some declared rule can join (the rules themselves are
in ``harness.registry.adaptation``); other pairs are refused."""
