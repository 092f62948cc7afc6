"""One resumable training loop for every experiment, its run folders, and the hooks measurements attach to."""
from .loop import (CHECKPOINT, CONFIG, METRICS, SUMMARY, Diverged, Measurement, Progress, RunError, TrainConfig,
                   load_run, prepare, train)
