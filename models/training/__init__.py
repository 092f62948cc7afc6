"""One resumable training loop for every experiment, its run folders, and the hooks measurements attach to."""
from .lock import RunError, RunLocked, RunWarning, run_lock, wait_unlocked
from .loop import (CHECKPOINT, CONFIG, METRICS, SUMMARY, Diverged, EpochHook, Progress, TrainConfig, build_config,
                   load_run, prepare, read_config, train, train_ensemble)
