"""``python -m vs_colorize.training``: the same as the ``vs-colorize-train`` command."""

import sys

from vs_colorize.training.cli import main

sys.exit(main())
