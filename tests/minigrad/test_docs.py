"""docs/engine.md as a student meets it: every ```python block runs as pasted, every ```python excerpt is the code."""
import contextlib
import io
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "engine.md"
BLOCK = re.compile(r"^```(python(?: excerpt)?)\n(.*?)^```$", re.M | re.S)


def blocks(kind):
    """(heading, code) of each block of `kind` ('python' or 'python excerpt'), in page order."""
    text = PAGE.read_text()
    found = []
    for match in BLOCK.finditer(text):
        if match.group(1) == kind:
            heading = re.findall(r"^## (.*)$", text[:match.start()], re.M)
            found.append((heading[-1] if heading else "top", match.group(2)))
    return found


SNIPPETS = blocks("python")


def test_every_step_has_a_snippet_to_run():
    steps = re.findall(r"^## (Step \d+.*)$", PAGE.read_text(), re.M)
    assert steps and [s for s in steps if s not in {h for h, _ in SNIPPETS}] == []


@pytest.mark.parametrize("heading, code", SNIPPETS, ids=[h.split(":")[0] for h, _ in SNIPPETS])
def test_snippet_runs_as_pasted(heading, code):
    """Each block runs alone, in a fresh namespace, as it would in a new `python` session."""
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, f"{PAGE.name}: {heading}", "exec"), {"__name__": "__main__"})


def test_every_excerpt_is_in_the_code():
    sources = [path.read_text() for path in sorted((ROOT / "minigrad").rglob("*.py"))]
    excerpts = blocks("python excerpt")
    assert excerpts
    stale = [heading for heading, code in excerpts if not any(code in source for source in sources)]
    assert not stale, f"excerpts in docs/engine.md that are not in minigrad's code: {stale}"
