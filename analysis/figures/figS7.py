"""Fig S7 (v8): Fig 4 repeated on SVHN and STL-10, read by data.load("svhn") and data.load("stl10")."""
from .common import INDEX_NOTE
from .fig4 import figure

DATASETS = ("svhn", "stl10")

_DATA = {
    "svhn": ("SVHN is read from the official train_32x32.mat and test_32x32.mat (73,257 training and 26,032 test "
             "digits; the label 10 is the digit 0) and, unlike CIFAR, is not mirrored: a mirrored digit is no digit "
             "(data.svhn)."),
    "stl10": ("STL-10 is read from the official stl10_binary.tar.gz (its 5,000 labelled training and 8,000 test "
              "images; the unlabelled ones are not used), mirrored as CIFAR is, and reduced from 96x96 to 32x32 by "
              "averaging 3x3 pixel blocks so that Fig 4's 3072-input nets apply (data.stl10); the quick preset's "
              "5,000 training images are all of them."),
}


def _notes(name):
    def notes(preset):
        return (f"{_DATA[name]} The data is not shipped with this project: put the official file(s) in the data "
                "folder (--data-dir, $SKIP_SINGULARITIES_DATA or ~/.cache/skip-singularities) or let them download; "
                "a run without them fails, and the list of runs not finished gives the data loader's message. The "
                "paper gives no preprocessing, sizes or STL-10 resolution for Fig S7 (docs/paper.md §6 item 1): the "
                "settings above are ours, and the rest is Fig 4's (its nets, per-channel standardisation, seeds and "
                "epochs), with 10 classes. " + INDEX_NOTE)
    return notes


FIGURES = [figure(f"figS7-{d}", d, f"Fig 4 on {d.upper()} (v8, Fig S7)",
                  f"v8 repeats Fig 4 on SVHN and STL-10 and reports that the results agree. This is {d}.",
                  _notes(d))
           for d in DATASETS]
