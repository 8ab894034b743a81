"""``python -m training``: the same as the ``vs-colorize-train`` command."""

import sys

from training.cli import main

sys.exit(main())
