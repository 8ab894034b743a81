"""The VapourSynth filters: ``colorize`` (per frame) and ``superres`` (a 3-frame window), and their helpers."""
