"""Fast mode: tiny data and one short epoch, so that tests and autograding run a chapter in seconds.

Set the environment variable ``COURSE_FAST_MODE=1`` before starting Python or the notebook
kernel. Chapters never mention it: the data loader and the ``Trainer`` honour it on their own.
"""

import os

ENV_VAR = "COURSE_FAST_MODE"

#: Images per split that ``load_fashion_mnist`` keeps in fast mode.
FAST_SIZES = {"train": 1024, "test": 512}
#: Batches per epoch that the ``Trainer`` runs in fast mode.
FAST_BATCHES = 2
#: Frames that ``widgets.browse`` computes in fast mode (``animation`` draws the first and last).
FAST_FRAMES = 2


def is_fast() -> bool:
    """True when ``COURSE_FAST_MODE`` is set to anything but ``""``, ``0`` or ``false``."""
    return os.environ.get(ENV_VAR, "").strip().lower() not in ("", "0", "false", "no")
