"""Command line of skip-singularities: `python cli.py --help`."""
import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Skip connections eliminate singularities: experiments on a handwritten autodiff engine."""


if __name__ == "__main__":
    main()
