"""One resumable training loop for every experiment, and its run folders."""
from .loop import Diverged, Measurement, Progress, RunError, TrainConfig, load_run, prepare, train
