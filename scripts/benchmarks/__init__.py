"""The sections of ``scripts/bench.py``: each measures one thing and returns records (plain dicts).

* :mod:`.common` — settings, timing, records, cached model artifacts.
* :mod:`.machine` — what the run ran on (date, CPU/GPU, versions) and the compute peaks for roofline fractions.
* :mod:`.model_only` — the colorize generators alone, per backend and render factor.
* :mod:`.pipeline` — the ``colorize`` filter at 720p/1080p into a null sink, and the overhead over model-only.
* :mod:`.superres` — the ``superres`` filter on a 1024² GRAY16 stack.
* :mod:`.train_step` — generator training steps, fp32 vs mixed precision.
* :mod:`.report` — the short table and the plot.
"""
