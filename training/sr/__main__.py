"""``python -m vs_colorize.training.sr``: SR training and evaluation."""

import sys

from .cli import main

sys.exit(main())
