"""The options as data (models.options.Option) and the click options cli.py makes of them: each declared once."""
import ast
import pathlib

import click
import pytest

import cli
from analysis.bench import BENCH_OPTIONS
from analysis.options import SINGULARITIES_OPTIONS, SOURCE_OPTIONS, SPECTRUM_OPTIONS
from analysis.reproduction.options import PACK_OPTIONS, REPRODUCE_OPTIONS
from analysis.toys import TOY_OPTIONS
from models.options import DATA_OPTIONS, MODEL_OPTIONS, TRAIN_OPTIONS, finite, positive

ROOT = pathlib.Path(__file__).resolve().parents[1]
DECLARED = {"train": TRAIN_OPTIONS, "spectrum": SPECTRUM_OPTIONS, "singularities": SINGULARITIES_OPTIONS,
            "reproduce": REPRODUCE_OPTIONS, "bench": BENCH_OPTIONS}


def _commands(group=cli.main, path=()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, path + (name,))
        else:
            yield path + (name,), command


@pytest.mark.parametrize("path, command", list(_commands()), ids=lambda p: " ".join(p) if isinstance(p, tuple) else "")
def test_every_flag_and_parameter_of_a_command_is_declared_once(path, command):
    flags = [flag for p in command.params for flag in p.opts + p.secondary_opts]
    names = [p.name for p in command.params]
    assert len(flags) == len(set(flags)) and len(names) == len(set(names))


@pytest.mark.parametrize("command, specs", DECLARED.items())
def test_each_command_takes_its_declared_options_in_their_order(command, specs):
    options = [p for p in cli.main.commands[command].params if isinstance(p, click.Option) and p.name != "help"]
    assert [p.opts + p.secondary_opts for p in options] == [spec.flags.split("/") for spec in specs]
    for spec, option in zip(specs, options):
        assert option.name == (spec.name or spec.flags.split("/")[0].lstrip("-").replace("-", "_"))
        assert option.help == spec.help and option.hidden == spec.hidden and option.multiple == spec.multiple
        assert option.show_default == (True if spec.default is not None else None)
        if spec.default is not None:
            assert option.default == spec.default


def test_the_toys_and_runs_pack_take_theirs():
    assert [p.opts for p in cli.toy.commands["all"].params if p.name != "help"] == [[s.flags] for s in TOY_OPTIONS]
    assert [p.opts for p in cli.runs.commands["pack"].params if isinstance(p, click.Option)][:1] == [
        [s.flags] for s in PACK_OPTIONS]


def test_the_shared_options_are_one_declaration():
    assert SPECTRUM_OPTIONS[:len(SOURCE_OPTIONS)] == SOURCE_OPTIONS == SINGULARITIES_OPTIONS[:len(SOURCE_OPTIONS)]
    assert set(MODEL_OPTIONS + DATA_OPTIONS) <= set(TRAIN_OPTIONS) & set(SOURCE_OPTIONS)


def test_the_checks_say_what_is_wrong_in_one_sentence():
    assert finite(-1.5) == -1.5 and positive(2.0) == 2.0
    for check, value in ((finite, float("inf")), (positive, 0.0), (positive, float("nan"))):
        with pytest.raises(ValueError, match="must be a .*finite number"):
            check(value)


@pytest.mark.parametrize("module", ["models/options.py", "analysis/options.py", "analysis/reproduction/options.py",
                                    "analysis/bench/__init__.py", "analysis/toys/__init__.py"])
def test_the_options_data_needs_no_click(module):
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse((ROOT / module).read_text()))
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse((ROOT / module).read_text()))
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert "click" not in imported and "rich" not in imported
