"""Farm scale: one film as scene-cut chunks on many machines (``vs-colorize farm``, docs/farm.md).

``plan`` writes the manifest, ``chunk`` renders one chunk (any array scheduler), ``concat`` checks and
joins them without re-encoding, ``ray_run`` drives a Ray cluster. Ray is imported only by ``ray_run``.
"""
