"""The raw form every source produces before augmentation and preprocessing."""
from dataclasses import dataclass, field

import numpy


@dataclass(eq=False)
class RawData:
    """Images as uint8 rows of 3072 bytes in the official channel-major order, labels as int64.

    Keeping bytes until the last step is what makes the 100,000-image mirrored training set
    affordable: 300 MB as uint8 against 1.2 GB as float32.
    """

    train_x: numpy.ndarray
    train_y: numpy.ndarray
    test_x: numpy.ndarray
    test_y: numpy.ndarray
    classes: int
    label_names: tuple = ()
    source: dict = field(default_factory=dict)
