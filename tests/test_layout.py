"""The house: four roots in a strict stack, only the engine installed, every link in the docs resolving."""
import ast
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# cli.py -> analysis -> models -> minigrad; a module may import its own floor and the floors below.
FLOORS = {"minigrad": 0, "models": 1, "analysis": 2, "cli": 3}
GONE = ("data", "training", "common", "experiments", "toys", "benchmarks")     # roots of an earlier layout


def _modules():
    """(dotted name, path) of every module of the lab's roots."""
    yield "cli", ROOT / "cli.py"
    for top in ("minigrad", "models", "analysis"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _imports(name, path):
    """The absolute names of every module `path` imports, at any depth of its code (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                yield ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.module


def test_no_module_imports_a_higher_floor():
    upward = []
    for name, path in _modules():
        floor = FLOORS[name.split(".")[0]]
        for imported in _imports(name, path):
            top = imported.split(".")[0]
            assert top not in GONE, f"{path.relative_to(ROOT)} imports {imported}, a root that no longer exists"
            if top in FLOORS and FLOORS[top] > floor:
                upward.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not upward, "imports reaching up the stack:\n" + "\n".join(upward)


def test_the_stack_in_the_words_of_docs_architecture():
    """docs/architecture.md's rules, each on its own: no module of minigrad imports models or analysis, no module
    of models imports analysis, no module of analysis imports cli (at any depth: lazy imports count too)."""
    forbidden = {"minigrad": ("models", "analysis", "cli"), "models": ("analysis", "cli"), "analysis": ("cli",)}
    found = [f"{path.relative_to(ROOT)} imports {imported}" for name, path in _modules()
             for imported in _imports(name, path) if imported.split(".")[0] in forbidden.get(name.split(".")[0], ())]
    assert not found, "\n".join(found)


def _cycle(graph):
    """One import cycle of `graph` ({module: set of modules}) as a list of names, or None."""
    colour, stack = {}, []

    def visit(node):
        colour[node] = "grey"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == "grey":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in colour:
                found = visit(nxt)
                if found:
                    return found
        colour[node] = "black"
        stack.pop()
        return None
    for node in sorted(graph):
        if node not in colour:
            found = visit(node)
            if found:
                return found
    return None


def _graph(top):
    """{module of `top`: the modules of `top` it imports, at any depth}; `from pkg import mod` names mod."""
    modules = {name: path for name, path in _modules() if name.split(".")[0] == top}
    graph = {}
    for name, path in modules.items():
        edges = set()
        for imported in _imports(name, path):
            if imported in modules and imported != name:
                edges.add(imported)
            elif imported.rpartition(".")[0] in modules:        # from package import name: the module's package
                edges.add(imported.rpartition(".")[0])
        for node in ast.walk(ast.parse(path.read_text())):          # from package import module
            if isinstance(node, ast.ImportFrom):
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                base = (".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                 + ([node.module] if node.module else [])) if node.level else node.module)
                edges |= {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules}
        # a package's __init__ importing its own modules is how a package is made, not a cycle of ideas
        graph[name] = {e for e in edges if e != name and not (path.name == "__init__.py" and e.startswith(name + "."))
                       and not name.startswith(e + ".")}
    return graph


def test_no_import_cycle_among_the_modules_of_analysis():
    """No module of analysis imports, however indirectly, a module that imports it (lazy imports count too);
    a module importing the package it lives in (for its __init__'s names) is not counted."""
    assert _cycle(_graph("analysis")) is None, " -> ".join(_cycle(_graph("analysis")))


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_walker_sees_relative_and_nested_imports(tmp_path):
    """The check above would pass vacuously if the walker missed imports; show it finds each kind."""
    path = tmp_path / "fig3.py"
    path.write_text("import numpy\nfrom ..reproduction.claims import Order\nfrom . import fig5\n"
                    "def f():\n    from cli import main\n")
    assert list(_imports("analysis.figures.fig3", path)) == ["numpy", "analysis.reproduction.claims",
                                                               "analysis.figures", "cli"]


def test_the_roots_are_the_design_cards():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode:
        pytest.skip("not a git checkout")
    tops = {line.split("/")[0] for line in tracked.stdout.splitlines()}
    code = {top for top in tops if top.endswith(".py") or (ROOT / top / "__init__.py").exists()}
    assert code == {"cli.py", "minigrad", "models", "analysis", "tests"}


TREE_BUDGET = 24 * 2 ** 20    # a lent GPU takes 64 MiB a call: this tree, plus a 36 MiB part of a data pack (docs/reproduction.md)


def test_the_tracked_tree_leaves_a_gpu_call_room_for_its_data():
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode:
        pytest.skip("not a git checkout")
    sizes = {f: (ROOT / f).stat().st_size for f in tracked.stdout.split("\0") if f and (ROOT / f).is_file()}
    largest = ", ".join(f"{f} {n / 2 ** 20:.1f} MiB" for f, n in sorted(sizes.items(), key=lambda kv: -kv[1])[:5])
    assert sum(sizes.values()) <= TREE_BUDGET, f"the tracked files exceed {TREE_BUDGET / 2 ** 20:.0f} MiB; largest: {largest}"


def test_only_the_engine_is_installed(tmp_path):
    """From an empty folder, with nothing of the checkout on the path: minigrad imports, the lab's roots do not."""
    names = ["minigrad", "cli", "models", "analysis", *GONE]
    code = ("import importlib.util, json, sys; sys.path = [p for p in sys.path if p not in ('', '.')]; "
            f"print(json.dumps({{n: importlib.util.find_spec(n) is not None for n in {names!r}}}))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    found = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    import json
    found = json.loads(found.stdout)
    if not found["minigrad"]:
        pytest.skip("the package is not installed (python -m pip install -e .)")
    assert [n for n in names[1:] if found[n]] == []


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _markdown_files():
    yield ROOT / "README.md"
    yield from sorted((ROOT / "docs").rglob("*.md"))


def test_every_relative_link_in_the_docs_resolves_to_a_tracked_file():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode:
        pytest.skip("not a git checkout")
    files = set(tracked.stdout.splitlines())
    folders = {str(pathlib.PurePosixPath(f).parent) for f in files}
    broken = []
    for page in _markdown_files():
        for target in LINK.findall(page.read_text()):
            target = target.split("#")[0]
            if not target or re.match(r"^[a-z]+:", target):
                continue
            resolved = os.path.relpath(os.path.normpath(page.parent / target), ROOT).replace(os.sep, "/")
            if resolved not in files and resolved.rstrip("/") not in folders:
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "links to files that are not in the repository:\n" + "\n".join(broken)


def test_the_link_checker_catches_a_broken_link():
    assert LINK.findall("see [the engine](docs/engine.md#step-1) and ![a plot](fig.png \"title\")") == [
        "docs/engine.md#step-1", "fig.png"]


def _test_command(text):
    """The line of `text` that runs the suite (pytest without the GPU tests), without its comment."""
    lines = [line.split("#")[0].strip() for line in text.splitlines()
             if line.lstrip().startswith("python -m pytest") and '"not gpu"' in line]
    assert len(lines) == 1, lines
    return lines[0]


def test_ci_runs_the_readmes_test_command_and_the_guide_gives_the_same():
    ci = ROOT / ".ci" / "run"
    if not ci.exists():
        pytest.skip("no .ci/run in this checkout")
    command = _test_command(ci.read_text())
    assert _test_command((ROOT / "README.md").read_text()) == command
    assert _test_command((ROOT / "docs" / "guide.md").read_text()) == command
