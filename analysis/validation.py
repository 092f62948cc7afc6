"""The Fig S3 analogue: exact, mixture-fit and SLQ degenerate and negative fractions on small nets.

The paper validated its moment + mixture method on 10x16 nets with 128 PCA inputs
(4,852 parameters), small enough for an exact eigendecomposition (Supp. Note 4,
Fig S3), and found the mixture overestimates the degenerate fraction and
underestimates the negative one, while tracking both. We repeat that, and add
stochastic Lanczos quadrature as a third estimate.

The settings are declared here, before any run, and not tuned afterwards:
plain and residual 10x16 nets, two seeds each, trained with the paper's optimizer
(Adam 5e-4, batch 500) on CIFAR-100 (coarse) reduced to 128 PCA components, and
measured at epochs 0, 1, 5 and 20 on a fixed subset of 1,024 training examples,
in float64, with the regularizer-free cross-entropy Hessian. Each measurement runs
inside the training loop (a `training.Measurement`), so the three estimates see
exactly the same weights and data.
"""
import os

from common.files import read_jsonl, write_json
from training import Measurement, TrainConfig, train

SETTINGS = {
    "archs": ("plain", "residual"),
    "seeds": (0, 1),
    "epochs": (0, 1, 5, 20),
    "depth": 10, "width": 16, "pca": 128,
    "dataset": "cifar100",
    "samples": 1024, "probes": 10, "steps": 100,
}
# Tiny settings for tests: SLQ runs as many steps as the operator has dimensions (208), so it
# sees every eigenvalue and differs from the exact fractions only by its probe weights.
QUICK = dict(SETTINGS, seeds=(0,), epochs=(0, 2), depth=3, width=4, pca=16, dataset="synthetic", samples=128,
             probes=4, steps=1000)
METHODS = ("exact", "moments", "slq")


def spectra_measurement(samples, probes, steps, epochs, seed=0):
    """A Measurement that computes the three estimates on the first `samples` training examples."""
    from .exact import exact_spectrum
    from .hessian import HessianOperator
    from .moments import moment_spectrum
    from .slq import slq_spectrum

    def measure(model, data, epoch):
        operator = HessianOperator(model, data.train_x[:samples], data.train_y[:samples], penalty=False)
        results = {"exact": exact_spectrum(operator),
                   "moments": moment_spectrum(operator, probes=probes, seed=seed).to_dict(),
                   "slq": slq_spectrum(operator, steps=min(steps, operator.dim), probes=probes, seed=seed)}
        return {f"{method}_{kind}": results[method]["fractions"][kind]
                for method in METHODS for kind in ("degenerate", "negative")}
    return Measurement("spectra", measure, epochs=set(epochs))


def run(out, settings=SETTINGS, data_root=None, progress=None):
    """Train every net of `settings` with the measurement attached; returns one row per (net, epoch)."""
    rows = []
    for arch in settings["archs"]:
        for seed in settings["seeds"]:
            run_dir = os.path.join(out, "runs", f"{arch}-s{seed}")
            config = TrainConfig(
                model={"arch": "mlp", "skip": arch, "depth": settings["depth"], "width": settings["width"]},
                data={"name": settings["dataset"], "root": data_root, "pca": settings["pca"]},
                epochs=max(settings["epochs"]), seed=seed, dtype="float64")
            measurement = spectra_measurement(settings["samples"], settings["probes"], settings["steps"],
                                              settings["epochs"], seed)
            resume = os.path.exists(os.path.join(run_dir, "checkpoint.npz"))
            train(config, run_dir, resume=resume, measurements=[measurement], progress=progress)
            for row in read_jsonl(os.path.join(run_dir, "metrics.jsonl")):
                if row["epoch"] in settings["epochs"]:
                    rows.append({"arch": arch, "seed": seed, "epoch": row["epoch"], "train_acc": row["train_acc"],
                                 **{k.split("/", 1)[1]: v for k, v in row.items() if k.startswith("spectra/")}})
    write_json(os.path.join(out, "fig_s3.json"), {"settings": settings, "rows": rows})
    return rows
