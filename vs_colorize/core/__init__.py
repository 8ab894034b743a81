"""The pure core: the export → runtime artifact contract, the user cache layout, atomic file IO, the ``.pt2``
safety checks, percentile normalisation, the flags every command shares and lazy package attributes.

Everything under ``vs_colorize.core`` imports only the standard library (numpy and onnx at most; shtab
lazily), never VapourSynth, a filter, a backend or the CLI, so that ``export`` and ``training`` can share it
on machines without VapourSynth. ``tests/test_import_rules.py`` enforces this.
"""
