"""``python -m vs_colorize.export`` runs the ``vs-colorize-export`` command line."""

import sys

from .cli import main

sys.exit(main())
