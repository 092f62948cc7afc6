"""The benchmark harness: each timed call starts and ends with its engine's device synchronized."""
from benchmarks.engine import time_cases


def test_every_timed_call_is_fenced_by_its_engines_synchronization():
    events = []
    groups = {"ours": {"W": lambda: events.append("ours")}, "theirs": {"W": lambda: events.append("theirs")}}
    syncs = {"ours": lambda: events.append("sync ours"), "theirs": lambda: events.append("sync theirs")}
    times = time_cases(groups, repeats=2, warmup=1, syncs=syncs)
    assert events == ["ours"] + ["sync ours", "ours", "sync ours"] * 2 + ["theirs"] + \
        ["sync theirs", "theirs", "sync theirs"] * 2
    assert set(times) == {"ours", "theirs"} and all(ms >= 0 for t in times.values() for ms in t.values())
