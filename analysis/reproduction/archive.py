"""Carry a sweep between machines: the finished runs of a root in one .tar.gz, without their checkpoints.

A run that is done (summary.json says finished or diverged) needs three files to count as
done and feed its figures: config.json, metrics.jsonl and summary.json (the runner reads
summary.json, the aggregation metrics.jsonl). Its checkpoint, by far the largest file, is
needed only to resume a run or to measure its weights again (`spectrum --run`), so it stays
behind. pack() writes those three files of every done run under <root>/runs/; unpack() adds
them to another root, where the runner then reuses them instead of training again. The
measurements that `spectrum --run` and `singularities --run` write into a run folder
(spectrum/<method>/, singularities/; analysis/outputs.py) stay behind too: pack() names the
files it takes, so it never sees them, and they change nothing about a run being done.

An archive may come from elsewhere, so unpack() checks all of it before writing anything:
only regular files runs/<run>/<one of the three names>, each run complete and done.
"""
import io
import json
import os
import tarfile
import time
import zlib

from models.files import atomic_write, remove_temporaries
from models.training import RunLocked, run_lock
from models.training.loop import CHECKPOINT, CONFIG, METRICS, SUMMARY

from .sweep import DONE, done_status, folder_state

FILES = (CONFIG, METRICS, SUMMARY)


class ArchiveError(RuntimeError):
    """A root or an archive that cannot be packed or unpacked (one sentence for the user)."""


MAX_BYTES = {CONFIG: 1 << 20, SUMMARY: 1 << 20, METRICS: 64 << 20}   # a run's files are KB, its metrics a few MB


def pack(root, archive, names=None, keep=None):
    """Write `archive` (.tar.gz, atomically) with the three files of every done run of `root`.

    names: only these runs (None: all). keep: run name -> (metric -> bool), to thin each metrics row to the
    metrics its figures read (None: the rows whole).
    Returns {"packed": runs written, "skipped": runs not done (left out)}.
    """
    runs = os.path.join(root, "runs")
    if not os.path.isdir(runs):
        raise ArchiveError(f"{root} holds no runs/ folder: give a reproduction's --out folder, e.g. results/paper")
    names = sorted(name for name in os.listdir(runs) if os.path.isdir(os.path.join(runs, name))
                   and (names is None or name in names))
    done = [name for name in names if _done(os.path.join(runs, name))
            and all(os.path.isfile(os.path.join(runs, name, file)) for file in FILES)]

    def write(tmp):
        with tarfile.open(tmp, "w:gz") as tar:
            for name in done:
                for file in FILES:
                    path = os.path.join(runs, name, file)
                    if file == METRICS and keep is not None:
                        data = _thinned(path, keep(name))
                    else:
                        with open(path, "rb") as f:
                            data = f.read()
                    member = tarfile.TarInfo(f"runs/{name}/{file}")
                    member.size, member.mtime, member.mode = len(data), int(time.time()), 0o644
                    tar.addfile(member, io.BytesIO(data))
    atomic_write(archive, write)
    return {"packed": len(done), "skipped": len(names) - len(done)}


def _thinned(path, keep):
    """The bytes of a metrics.jsonl whose rows hold only the metrics `keep` accepts."""
    from models.files import read_jsonl
    return "".join(json.dumps({k: v for k, v in row.items() if keep(k)}) + "\n" for row in read_jsonl(path)).encode()


def pack_figures(root, dest, figures, preset):
    """One compact archive per figure, `dest/<figure>/runs.tar.gz`, of the done runs of `root` that it owns.

    figures: Figure definitions in order. A run shared by several figures is owned by the first that does
    not reuse other figures' runs (Figure.reuses), else by the first; its rows keep every metric that any
    figure declaring it reads (reproduce.reads). Returns {figure: packed runs} for the figures with runs."""
    from .reproduce import reads
    readers = {}
    for figure in figures:
        if figure.kind == "runs":
            for runs in figure.groups(preset).values():
                for spec in runs:
                    readers.setdefault(spec.name, []).append(figure)
    owner = {name: next((f for f in found if not f.reuses), found[0]).name for name, found in readers.items()}
    tests = {figure.name: reads(figure, preset) for figure in figures if figure.kind == "runs"}
    readers = {name: [tests[n] for n in dict.fromkeys(f.name for f in found)] for name, found in readers.items()}
    present = set(os.listdir(os.path.join(root, "runs"))) if os.path.isdir(os.path.join(root, "runs")) else set()
    out = {}
    for figure in figures:
        names = {name for name, by in owner.items() if by == figure.name and name in present
                 and _done(os.path.join(root, "runs", name))}
        if names:
            path = os.path.join(dest, figure.name, "runs.tar.gz")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            keep = lambda name: (lambda metric, tests=readers[name]: any(t(metric) for t in tests))  # noqa: E731
            out[figure.name] = pack(root, path, names, keep)["packed"]
    return out


def unpack(archive, root):
    """Add the runs of `archive` to `<root>/runs/`; returns the counts and a note per run skipped.

    A run already done in `root` is kept as it is. One that is there but not done (a partial
    run, say) is replaced by the archive's, its checkpoint removed, unless a live process
    holds its lock (models.training.lock's rules): then it is skipped with a note.
    Returns {"added", "kept", "replaced", "skipped": counts, "notes": [why each skipped run was]}.
    """
    counts = {"added": 0, "kept": 0, "replaced": 0, "skipped": 0, "notes": []}
    with _open(archive) as tar:
        runs = _check(archive, tar)              # the whole archive, before anything is written
        os.makedirs(os.path.join(root, "runs"), exist_ok=True)
        for name in sorted(runs):
            folder = os.path.join(root, "runs", name)
            if _done(folder):
                counts["kept"] += 1
                continue
            existed = os.path.isdir(folder)
            try:
                with run_lock(folder):           # no trainer writes the folder while it is replaced
                    if _done(folder):
                        counts["kept"] += 1
                        continue
                    _install(tar, runs[name], folder)
            except RunLocked as e:
                counts["skipped"] += 1
                counts["notes"].append(str(e))
                continue
            counts["replaced" if existed else "added"] += 1
    return counts


def _done(folder):
    return folder_state(folder) in DONE


def _install(tar, members, folder):
    """Write a run's three files (summary.json last, so the run is done only once all are there)."""
    for file in (CONFIG, METRICS):
        _write(tar, members[file], os.path.join(folder, file))
    if os.path.exists(os.path.join(folder, CHECKPOINT)):
        os.remove(os.path.join(folder, CHECKPOINT))
    remove_temporaries(folder)                   # safe: we hold the folder's lock
    _write(tar, members[SUMMARY], os.path.join(folder, SUMMARY))


def _write(tar, member, path):
    def write(tmp):
        with tar.extractfile(member) as source, open(tmp, "wb") as target:
            while chunk := source.read(1 << 20):
                target.write(chunk)
    atomic_write(path, write)


def _open(archive):
    try:
        return tarfile.open(archive, "r:gz")
    except FileNotFoundError:
        raise ArchiveError(f"{archive} does not exist") from None
    except (OSError, EOFError, tarfile.TarError, zlib.error) as e:
        raise ArchiveError(f"{archive} is not a .tar.gz archive ({e})") from None


def _check(archive, tar):
    """{run: {file: member}} of a sound archive of done runs; ArchiveError naming the first problem."""
    runs = {}
    try:
        for member in tar:
            problem = _unexpected(member)
            if problem:
                raise ArchiveError(f"{archive} is refused, nothing was unpacked: member {member.name!r} is {problem} "
                                   f"(an archive of runs holds only runs/<run>/ with {', '.join(FILES)}, as regular "
                                   "files)")
            _, name, file = member.name.split("/")
            if member.size > MAX_BYTES[file]:
                raise ArchiveError(f"{archive} is refused, nothing was unpacked: {member.name} is "
                                   f"{member.size / 2**20:.0f} MiB, more than a run's {file} can be "
                                   f"({MAX_BYTES[file] / 2**20:.0f} MiB)")
            if file in runs.setdefault(name, {}):
                raise ArchiveError(f"{archive} is refused, nothing was unpacked: it holds {member.name} twice")
            runs[name][file] = member
            if file == SUMMARY and not done_status(tar.extractfile(member).read()):
                raise ArchiveError(f"{archive} is refused, nothing was unpacked: the summary.json of run {name} "
                                   "does not say finished or diverged")
        while tar.fileobj.read(1 << 20):         # to the end of the gzip stream, whose checksum comes last
            pass
    except (OSError, EOFError, tarfile.TarError, zlib.error) as e:
        raise ArchiveError(f"{archive} is damaged or truncated, nothing was unpacked ({e})") from None
    for name, files in runs.items():
        missing = [file for file in FILES if file not in files]
        if missing:
            raise ArchiveError(f"{archive} is refused, nothing was unpacked: run {name} lacks {', '.join(missing)}")
    return runs


def _unexpected(member):
    """Why a member has no place in an archive of runs (None when it has one)."""
    parts = member.name.split("/")
    if member.name.startswith("/"):
        return "an absolute path"
    if ".." in parts:
        return "a path leaving runs/"
    if member.issym() or member.islnk():
        return "a link"
    if not member.isreg():
        return "not a regular file"
    if len(parts) != 3 or parts[0] != "runs" or not parts[1] or parts[1].startswith(".") or parts[2] not in FILES:
        return "not a run's file"
    return None
