"""Carrying a sweep between machines: pack the finished runs of a root, unpack them elsewhere, nothing retrains."""
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile

import pytest

from analysis.figures import FIGURES
from analysis.reproduction import presets, runner
from analysis.reproduction.archive import ArchiveError, pack, unpack
from analysis.reproduction.reproduce import reproduce
from analysis.reproduction.sweep import Sweep
from models.training import RunWarning

TEST = presets.get("test")
FILES = ["config.json", "metrics.jsonl", "summary.json"]


@pytest.fixture(scope="module")
def swept(fig6_test_sweep, tmp_path_factory):
    """(root, archive): Fig 6 reproduced at the test preset (once for the session: tests/conftest.py), its runs packed."""
    root = str(fig6_test_sweep[0])
    archive = str(tmp_path_factory.mktemp("archive") / "runs.tar.gz")
    assert pack(root, archive) == {"packed": 10, "skipped": 0}
    return root, archive


def _numbers(root):
    with open(os.path.join(root, "fig6", "numbers.json")) as f:
        return {k: v for k, v in json.load(f).items() if k != "seconds"}


class Count(runner.Listener):
    def begin(self, total, done):
        self.total, self.done = total, done


def _spec():
    return FIGURES["fig6"].groups(TEST)["Residual"][0]


def _partial(root):
    """A run of Fig 6 in `root` that stopped before its summary: a checkpoint to resume."""
    runner.execute([_spec()], Sweep(root))
    os.remove(os.path.join(runner.run_dir(root, _spec()), "summary.json"))
    assert runner.state(root, _spec()) == "partial"
    return runner.run_dir(root, _spec())


def test_unpacked_runs_are_reused_to_the_same_numbers(swept, tmp_path):
    root, archive = swept
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert len(names) == 30 and {name.split("/")[2] for name in names} == set(FILES)
    fresh = str(tmp_path / "fresh")
    assert unpack(archive, fresh) == {"added": 10, "kept": 0, "replaced": 0, "skipped": 0, "notes": []}
    listener = Count()
    reproduce(FIGURES["fig6"], TEST, Sweep(fresh, listener=listener))
    assert listener.done == listener.total == 10                  # no run trained again
    assert _numbers(fresh) == _numbers(root)
    again = unpack(archive, fresh)
    assert (again["added"], again["kept"]) == (0, 10)             # finished runs are left as they are


def test_a_partial_run_is_not_packed(swept, tmp_path):
    root = str(tmp_path / "root")
    shutil.copytree(swept[0], root)
    _partial(root)
    archive = str(tmp_path / "runs.tar.gz")
    assert pack(root, archive) == {"packed": 9, "skipped": 1}
    with tarfile.open(archive) as tar:
        assert not any(name.split("/")[1] == _spec().name for name in tar.getnames())


def test_a_partial_local_run_is_replaced_by_the_finished_one(swept, tmp_path):
    root, archive = swept
    folder = _partial(str(tmp_path))
    counts = unpack(archive, str(tmp_path))
    assert (counts["added"], counts["replaced"], counts["skipped"]) == (9, 1, 0)
    assert sorted(os.listdir(folder)) == FILES                   # no checkpoint, no lock left
    assert runner.state(str(tmp_path), _spec()) == "finished"
    assert runner.metrics(str(tmp_path), _spec()) == runner.metrics(root, _spec())


def test_a_run_locked_by_a_live_trainer_is_skipped_and_a_stale_lock_taken_over(swept, tmp_path):
    archive = swept[1]
    folder = _partial(str(tmp_path))
    lock = os.path.join(folder, ".lock")
    with open(lock, "w") as f:     # a trainer on another host: never taken over from here
        json.dump({"host": "another-host", "pid": 1, "started": "2026-01-01T00:00:00"}, f)
    counts = unpack(archive, str(tmp_path))
    assert counts["skipped"] == 1 and "another-host" in counts["notes"][0]
    assert runner.state(str(tmp_path), _spec()) == "partial" and os.path.exists(lock)

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with open(lock, "w") as f:     # a trainer of this host that died
        json.dump({"host": socket.gethostname(), "pid": gone.pid, "started": "2026-01-01T00:00:00"}, f)
    with pytest.warns(RunWarning, match="stale lock"):
        counts = unpack(archive, str(tmp_path))
    assert (counts["kept"], counts["replaced"]) == (9, 1)
    assert sorted(os.listdir(folder)) == FILES


def _archive(path, members):
    """A .tar.gz holding one good run plus `members`: (name, kind, content) with kind file, symlink, hardlink or dir."""
    good = [(f"runs/good/{name}", "file", b'{"status": "finished"}\n') for name in FILES]
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, content in good + members:
            member = tarfile.TarInfo(name)
            if kind == "file":
                member.size = len(content)
                tar.addfile(member, io.BytesIO(content))
                continue
            member.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "dir": tarfile.DIRTYPE}[kind]
            member.linkname = content
            tar.addfile(member)
    return path


@pytest.mark.parametrize("member, reason", [
    (("../evil", "file", b"x"), "a path leaving runs/"),
    (("runs/../../evil/summary.json", "file", b"x"), "a path leaving runs/"),
    (("/tmp/evil/summary.json", "file", b"x"), "an absolute path"),
    (("runs/bad/config.json", "symlink", "/etc/passwd"), "a link"),
    (("runs/bad/metrics.jsonl", "hardlink", "runs/good/metrics.jsonl"), "a link"),
    (("runs/bad", "dir", ""), "not a regular file"),
    (("runs/bad/notes.txt", "file", b"x"), "not a run's file"),
    (("runs/bad/checkpoint.npz", "file", b"x"), "not a run's file"),
    (("runs/.tmp-x/config.json", "file", b"x"), "not a run's file"),
    (("runs/a/b/config.json", "file", b"x"), "not a run's file"),
])
def test_an_unexpected_member_refuses_the_whole_archive(tmp_path, member, reason):
    archive = _archive(str(tmp_path / "evil.tar.gz"), [member])
    root = tmp_path / "root"
    with pytest.raises(ArchiveError, match="nothing was unpacked") as error:
        unpack(archive, str(root))
    assert reason in str(error.value) and repr(member[0]) in str(error.value)
    assert not root.exists() and sorted(os.listdir(tmp_path)) == ["evil.tar.gz"]


def test_an_incomplete_or_unfinished_run_refuses_the_archive(tmp_path):
    incomplete = _archive(str(tmp_path / "a.tar.gz"), [("runs/half/summary.json", "file", b'{"status": "finished"}')])
    with pytest.raises(ArchiveError, match="run half lacks config.json, metrics.jsonl"):
        unpack(incomplete, str(tmp_path / "root"))
    unfinished = _archive(str(tmp_path / "b.tar.gz"), [(f"runs/half/{name}", "file", b"{}") for name in FILES])
    with pytest.raises(ArchiveError, match="summary.json of run half does not say finished"):
        unpack(unfinished, str(tmp_path / "root"))
    assert not (tmp_path / "root").exists()


def test_a_truncated_archive_or_another_file_is_one_error(swept, tmp_path):
    data = open(swept[1], "rb").read()
    for cut in (len(data) // 2, len(data) - 4):       # half of it; only the gzip checksum's end missing
        (tmp_path / "cut.tar.gz").write_bytes(data[:cut])
        with pytest.raises(ArchiveError, match="cut.tar.gz"):
            unpack(str(tmp_path / "cut.tar.gz"), str(tmp_path / "root"))
    (tmp_path / "notes.txt").write_text("not an archive")
    with pytest.raises(ArchiveError, match="is not a .tar.gz archive"):
        unpack(str(tmp_path / "notes.txt"), str(tmp_path / "root"))
    with pytest.raises(ArchiveError, match="does not exist"):
        unpack(str(tmp_path / "missing.tar.gz"), str(tmp_path / "root"))
    assert not (tmp_path / "root").exists()


def test_pack_needs_a_reproduction_folder_and_writes_atomically(tmp_path):
    with pytest.raises(ArchiveError, match="holds no runs/ folder"):
        pack(str(tmp_path / "nowhere"), str(tmp_path / "runs.tar.gz"))
    assert os.listdir(tmp_path) == []
    run = tmp_path / "root" / "runs" / "r"
    run.mkdir(parents=True)
    for name in FILES:
        (run / name).write_text('{"status": "diverged"}\n')
    for leftover in ("checkpoint.npz", ".lock", ".tmp-abc.json"):
        (run / leftover).write_text("x")
    assert pack(str(tmp_path / "root"), str(tmp_path / "runs.tar.gz")) == {"packed": 1, "skipped": 0}
    with tarfile.open(tmp_path / "runs.tar.gz") as tar:
        assert tar.getnames() == [f"runs/r/{name}" for name in FILES]
    assert sorted(os.listdir(tmp_path)) == ["root", "runs.tar.gz"]          # no temporary file left


def test_compact_archives_per_figure_draw_the_same_numbers(swept, tmp_path):
    from analysis.reproduction.archive import pack_figures
    root, _ = swept
    counts = pack_figures(root, str(tmp_path / "packed"), list(FIGURES.values()), TEST)
    assert sum(counts.values()) == 10 and counts["fig6"] == 2     # BiasReg+BN is Fig 6's own; the rest are shared
    fresh = str(tmp_path / "fresh")
    for name in counts:
        unpack(str(tmp_path / "packed" / name / "runs.tar.gz"), fresh)
    spec = _spec()
    full = runner.metrics(root, spec)
    thin = runner.metrics(fresh, spec)
    assert [r["epoch"] for r in thin] == [r["epoch"] for r in full] and len(thin[0]) < len(full[0])
    reproduce(FIGURES["fig6"], TEST, Sweep(fresh, stop_at=0))
    assert _numbers(fresh) == _numbers(root)


def test_a_member_larger_than_a_runs_file_is_refused_before_it_is_read(tmp_path):
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, size in (("config.json", 2), ("metrics.jsonl", 2), ("summary.json", 2 << 20)):
            member = tarfile.TarInfo(f"runs/r/{name}")
            member.size = size
            tar.addfile(member, io.BytesIO(b"{" + b" " * (size - 2) + b"}"))
    with pytest.raises(ArchiveError, match="summary.json is 2 MiB, more than"):
        unpack(str(archive), str(tmp_path / "root"))
    assert not (tmp_path / "root" / "runs" / "r").exists()
