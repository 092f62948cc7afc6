"""What a figure is made of: runs (a training config plus a measurement plan), panels and claims.

A run is identified by its content: the hash of its training config (without the
device and the data folder) and its measurement plan. Two figures that need the
same net share one run folder, a finished run is never repeated, and a changed
setting can never be mistaken for an old one.
"""
import hashlib
import json
from dataclasses import asdict, dataclass, field

from models.training import TrainConfig


@dataclass
class RunSpec:
    """One training run of a reproduction: config, measurement plan and a readable stem for its folder."""
    config: TrainConfig
    plan: dict
    stem: str

    def identity(self):
        config = asdict(self.config)
        config.pop("device")
        config["data"] = {k: v for k, v in config["data"].items() if k != "root"}
        return {"config": config, "plan": self.plan}

    @property
    def key(self):
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    @property
    def name(self):
        return f"{self.stem}-{self.key}"


# ----------------------------------------------------------------------------- panels

@dataclass
class Curve:
    """A metric against epoch, one line per group (mean ± SE band)."""
    metric: str
    ylabel: str
    groups: tuple = None          # None: all groups
    log: bool = False
    percent: bool = False
    title: str = ""


@dataclass
class Layers:
    """A per-layer meter ('<prefix>/layerNN') against layer at chosen epochs ("last": each group's last), one line
    per group and epoch."""
    prefix: str
    ylabel: str
    epochs: tuple = (0,)
    groups: tuple = None
    log: bool = False
    title: str = ""


@dataclass
class Scatter:
    """Per-run values of two metrics at the last measured epoch (e.g. estimated vs exact fractions)."""
    x: str
    y: str
    xlabel: str
    ylabel: str
    groups: tuple = None
    identity: bool = True
    title: str = ""


# ----------------------------------------------------------------------------- the figure

@dataclass
class Figure:
    """A figure of the paper as an experiment.

    name       'fig3', 'figS1', ...; the results folder's name
    title      the paper's caption title
    paper      what the figure shows in the paper, in a sentence or two (docs/paper.md §5)
    groups     preset -> {label: [RunSpec, ...]}: the curves, each a list of seeds
    claims     checks on the aggregated numbers (analysis/reproduction/claims.py)
    panels     what the PNG shows, laid out like the paper's panels
    regroup    optional (rows by group, preset) -> rows by group, e.g. best-k / worst-k
    notes      optional preset -> text for the report (settings, what the preset cannot show)
    colors     optional {group: matplotlib color} overriding a group's colour; every net already keeps one
               colour and line style in every panel of every figure (plots.NET_STYLES), so no figure needs it
    tables     optional (claims, rows by group) -> markdown the report shows (e.g. the fidelity grid's matrix)
    reuses     its runs are mostly other figures' (Fig 4's plain nets are Fig 5's): a run's compact archive goes
               with a figure that does not reuse (archive.pack_figures)
    measure    optional (spec, rows, sweep, preset, figure folder) -> rows: numbers measured after training from a
               done run's folder (its checkpoint; its initial weights rebuilt from its seed) added to its rows,
               so runs other figures declare are shared unchanged (per_layer.py; it caches what it measured)
    """
    name: str
    title: str
    paper: str
    groups: callable
    claims: list
    panels: list
    regroup: callable = None
    notes: callable = None
    colors: dict = field(default_factory=dict)
    tables: callable = None
    reuses: bool = False
    measure: callable = None

    kind = "runs"
