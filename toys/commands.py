"""`python cli.py toy ...`: the paper's toy models of singularities."""
import click


@click.group()
def toy():
    """Toy models of singularities (no data needed; seconds each)."""
