"""``python -m vs_colorize`` runs the ``vs-colorize`` command line."""

import sys

from .cli.main import main

sys.exit(main())
