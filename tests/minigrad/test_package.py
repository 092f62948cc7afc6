"""The engine's package: no import cycles, no export hiding a module, `__all__` saying what is public,
and tests of the engine that need nothing but the engine."""
import ast
import importlib
import inspect
import pathlib
import pkgutil

import numpy
import pytest

import minigrad

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ["minigrad", "minigrad.ops", "minigrad.functional", "minigrad.nn", "minigrad.optim", "minigrad.testing"]


def modules(top):
    """{dotted name: path} of every module of the package folder `top`."""
    found = {}
    for path in sorted(top.rglob("*.py")):
        parts = path.relative_to(top.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name, path, known):
    """The modules of `known` that module `name` imports, at any depth of its code (inside functions too).

    `from a import b` imports the module a.b when there is one, else the module a; relative imports are resolved.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:      # import a.b.c names the module a.b.c, or its package
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def cycles(top):
    """Every import cycle among the modules of `top`, each as a list of module names (first repeated last)."""
    known = modules(top)
    graph = {name: sorted(imports(name, path, known)) for name, path in known.items()}
    found, state = [], {}                              # state: 1 on the current path, 2 done

    def visit(name, path):
        state[name] = 1
        for other in graph[name]:
            if state.get(other) == 1:
                found.append(path[path.index(other):] + [other])
            elif other not in state:
                visit(other, path + [other])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
    return found


def test_no_module_of_minigrad_imports_one_that_imports_it_back():
    assert cycles(ROOT / "minigrad") == []


def test_the_cycle_check_sees_lazy_and_submodule_imports(tmp_path):
    """The old cycle, rebuilt: core imports autodiff inside a method, autodiff imports ops, ops imports core."""
    pkg = tmp_path / "eng"
    (pkg / "ops").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import ops\n")
    (pkg / "core.py").write_text("class T:\n    def backward(self):\n        from .autodiff import grad\n")
    (pkg / "autodiff.py").write_text("from .ops import sum_to\n")
    (pkg / "ops" / "__init__.py").write_text("from .. import core\n")
    (found,) = cycles(pkg)
    assert found[0] == found[-1] and sorted(found[1:]) == ["eng.autodiff", "eng.core", "eng.ops"]


def _public(package):
    """The names a package defines for its users: not private, not a module, not re-exported from elsewhere."""
    return {name for name, value in vars(package).items()
            if not name.startswith("_") and not inspect.ismodule(value)
            and getattr(value, "__module__", package.__name__).startswith(package.__name__)}


def test_no_export_hides_a_module_and_all_lists_the_public_names():
    for name in PACKAGES:
        package = importlib.import_module(name)
        submodules = {info.name for info in pkgutil.iter_modules(package.__path__)}
        hiding = sorted(set(package.__all__) & submodules)
        assert not hiding, f"{name} exports {hiding}, which are also the names of its modules"
        assert len(package.__all__) == len(set(package.__all__)), f"{name}.__all__ repeats a name"
        assert set(package.__all__) == _public(package), f"{name}.__all__ is not its public names"
        for sub in submodules:                        # `import minigrad.x as m` gives the module x
            assert inspect.ismodule(importlib.import_module(f"{name}.{sub}"))
            assert not hasattr(package, sub) or inspect.ismodule(getattr(package, sub)), f"{name}.{sub} is hidden"


def test_the_renamed_modules_are_modules():
    import minigrad.core as core
    import minigrad.hessian_vector as hessian_vector
    import minigrad.forward as forward
    assert (core.Tensor, hessian_vector.hvp, forward.jvp) == (minigrad.Tensor, minigrad.hvp, minigrad.jvp)


def test_the_engines_tests_import_only_the_engine():
    """tests/minigrad tests the engine by itself: no test here imports the lab above it (models, analysis, cli)."""
    above = {"models", "analysis", "cli", "benchmarks"}
    reaching = []
    for path in sorted(pathlib.Path(__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            reaching += [f"{path.name}: {n}" for n in names if n.split(".")[0] in above]
    assert not reaching, "\n".join(reaching)


def test_every_op_declares_the_settings_it_is_given():
    """A Function's settings are class annotations; apply refuses any other keyword, and repr shows them."""
    from minigrad.ops.elementwise import Power
    x = minigrad.tensor(numpy.arange(3.0), requires_grad=True)
    assert Power.settings == ("p",) and repr((x ** 2).creator) == "Power(p=2)"
    assert repr(x.sum(axis=0).creator) == "Sum(axes=(0,), keepdims=False)"
    with pytest.raises(TypeError, match=r"Power takes the settings \(p\); got \(q\)"):
        Power.apply(x, q=2)
    with pytest.raises(TypeError, match="Power takes the settings"):
        Power.apply(x)
