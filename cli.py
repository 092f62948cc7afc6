"""Command line of skip-singularities: `python cli.py --help`."""
import warnings

import click

from analysis.commands import singularities, spectrum, validate_spectra
from benchmarks.commands import bench
from experiments.commands import reproduce_cmd
from toys.commands import toy
from training.commands import train


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Skip connections eliminate singularities: experiments on a handwritten autodiff engine."""
    # Warnings meant for users (an unofficial CIFAR tarball, say) read as one line, not as a source location.
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"Warning: {message}\n"


main.add_command(bench)
main.add_command(reproduce_cmd)
main.add_command(singularities)
main.add_command(spectrum)
main.add_command(toy)
main.add_command(train)
main.add_command(validate_spectra)


if __name__ == "__main__":
    main()
