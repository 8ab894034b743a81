"""``python -m vs_colorize`` runs the ``vs-colorize`` command line."""

import sys

from .cli import main

sys.exit(main())
