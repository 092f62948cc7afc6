"""Fig S7 (v8): Fig 4 repeated on SVHN and STL-10. Defined for any data set name; runs once those loaders exist."""
from .fig4 import figure

DATASETS = ("svhn", "stl10")


def _notes(preset):
    return ("SVHN and STL-10 are not available on this machine and the `data` package has no loader for them yet, "
            "so every run of this figure fails with the data loader's message below and no claim can be checked. "
            "The definition is Fig 4's with the data set as a parameter (`figS7-svhn`, `figS7-stl10`); it runs "
            "unchanged once `data.load` knows these names. The paper gives no preprocessing, sizes or STL-10 "
            "resolution for them (docs/paper.md §6 item 1).")


FIGURES = [figure(f"figS7-{d}", d, f"Fig 4 on {d.upper()} (v8, Fig S7)",
                  f"v8 repeats Fig 4 on SVHN and STL-10 and reports that the results agree. This is {d}.", _notes)
           for d in DATASETS]
