"""Generator-pretraining step throughput (NoGAN step 1), fp32 against mixed precision, side by side in one run.

One step is what ``vs_colorize.training.phases.gen_pretrain.run_gen_stage`` does per batch: the generator's forward on a
batch of grey-RGB crops, DeOldify's feature loss (VGG16-BN features + L1) on ``pred.float()`` against the colour
target, both under the variant's autocast, ``zero_grad(set_to_none=True)``, the (GradScaler-)scaled backward and
the AdamW step over the three layer groups with discriminative learning rates (the 192 px stage's schedule:
unfrozen encoder). The batches are synthetic tensors of the right shape made once on the device: data loading is
not what is measured. The VGG has random weights (``vgg_weights="random"``, no download); throughput does not
depend on weight values. Each variant warms up (at least 2 steps: the first ones allocate), then
``settings.iters`` steps are timed, CUDA-synchronised on the GPU; the median is reported.

Variants: on the CPU fp32 and bf16 autocast (``--set amp=bf16``, which ``Precision`` honours on the CPU since this
measurement showed it pays off); on CUDA fp32 with default settings (cuDNN's TF32 convolutions as torch sets them),
bf16 AMP + channels_last and fp16 AMP + GradScaler + channels_last.

MACs per image, counted on the meta device with ``machine.count_gmac``: ``3·G + 3·V``, where ``G`` is the
generator's forward (forward, input gradient and weight gradient ≈ 3 forwards) and ``V`` the forward of the loss's
truncated VGG: the target pass under ``no_grad`` (1·V) and the prediction pass, whose backward computes input
gradients only because the VGG is frozen (2·V). The roofline fraction uses the measured fp32 GEMM peak of
``settings.threads`` CPU threads for every CPU variant, and the fp16 GEMM peak for the GPU's half-precision variants
(fp32 on the GPU gets achieved TFLOP/s only); ``peak`` names the one used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .common import Record, Settings, label, roofline, skipped, throughput, timed, torch_threads
from .machine import count_gmac

log = logging.getLogger("bench")

#: (model, side, batch) per device; ``quick`` runs every model at 64² batch 2.
CPU_PLAN = (("tiny", 128, 8),)
GPU_PLAN = (("video", 192, 8), ("tiny", 192, 8))
QUICK_SIDE, QUICK_BATCH = 64, 2
#: (precision, channels_last) per device; the first is the fp32 baseline of ``speedup``.
CPU_VARIANTS = (("fp32", False), ("bf16", False))
GPU_VARIANTS = (("fp32", False), ("bf16", True), ("fp16", True))
VGG_WEIGHTS = "random"


def run(settings: Settings, peaks: dict[str, Any]) -> list[Record]:
    """Training-step records for every (device, model, precision) of the plan; GPU ones skipped without CUDA."""
    import torch

    records: list[Record] = []
    with torch_threads(settings.threads):
        for model, side, batch in _plan(CPU_PLAN, settings):
            cpu_peak = peaks.get("cpu_tflops", {}).get(settings.threads)
            peak = {"peak": f"cpu fp32 GEMM ({settings.threads} threads)", "peak_tflops": cpu_peak}
            group = [
                _measure(_base(model, "torch-cpu", prec, cl, side, batch), settings, peak)
                for prec, cl in CPU_VARIANTS
            ]
            records += _with_speedup(group)
    gpu_peak = (peaks.get("gpu") or {}).get("fp16_gemm_tflops")
    for model, side, batch in _plan(GPU_PLAN, settings):
        bases = [_base(model, "torch-cuda", prec, cl, side, batch) for prec, cl in GPU_VARIANTS]
        if not torch.cuda.is_available():
            records += [skipped(b, "no CUDA GPU visible to torch") for b in bases]
            continue
        group = []
        for b in bases:
            half = b["precision"] != "fp32"
            peak = {
                "peak": "fp16 GEMM (measured)" if half else None,
                "peak_tflops": gpu_peak if half else None,
            }
            group.append(_measure(b, settings, peak))
        records += _with_speedup(group)
    return records


def _plan(plan: tuple[tuple[str, int, int], ...], settings: Settings) -> list[tuple[str, int, int]]:
    """The plan's entries for ``settings.models``, shrunk to 64² batch 2 when ``quick``."""
    picked = [p for p in plan if p[0] in settings.models]
    return [(m, QUICK_SIDE, QUICK_BATCH) for m, _, _ in picked] if settings.quick else picked


def _base(model: str, backend: str, precision: str, channels_last: bool, side: int, batch: int) -> Record:
    """The fields that name a variant."""
    return {
        "section": "train",
        "model": model,
        "backend": backend,
        "precision": precision,
        "channels_last": channels_last,
        "side": side,
        "batch": batch,
        "vgg_weights": VGG_WEIGHTS,
        "encoder": "unfrozen",
    }


def _measure(base: Record, settings: Settings, peak: dict[str, Any]) -> Record:
    """Time one variant's training step and turn it into a record with MACs and the roofline fraction."""
    import torch

    cuda = base["backend"] == "torch-cuda"
    log.info("train: %s batch %d …", label(base), base["batch"])
    step, gmac = _training_step(base)
    sync = torch.cuda.synchronize if cuda else None
    t = timed(step, warmup=max(2, settings.warmup), iters=settings.iters, sync=sync)
    del step  # frees the model, optimiser state and batch before the next variant
    seconds = t["median_s"]
    images = throughput(seconds, base["batch"])["fps"]
    per_step = throughput(seconds)
    record = {
        **base,
        "steps_per_s": per_step["fps"],
        "images_per_s": images,
        "fps": images,
        "ms": per_step["ms"],
        "min_ms": 1000.0 * t["min_s"],
        "iters": t["n"],
        **gmac,
        **peak,
        **roofline(gmac["gmac"], images, peak["peak_tflops"]),
    }
    if cuda:
        record["tf32_conv"] = torch.backends.cudnn.allow_tf32
        record["max_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.empty_cache()
    log.info("train: %s %.2f steps/s, %.1f images/s", label(base), record["steps_per_s"], images)
    return record


def _training_step(base: Record) -> tuple[Callable[[], None], dict[str, float]]:
    """One variant's step as a closure over its model, loss, optimiser and batch; and its MACs per image."""
    import torch

    from vs_colorize.training.archs import build_generator
    from vs_colorize.training.config import GenPretrainConfig, GenStage, LossConfig
    from vs_colorize.training.device import Precision
    from vs_colorize.training.losses import build_feature_loss
    from vs_colorize.training.optim import adam, discriminative_lrs, layer_groups, optimizer_step

    device = torch.device("cuda" if base["backend"] == "torch-cuda" else "cpu")
    prec = Precision(
        device, "none" if base["precision"] == "fp32" else base["precision"], base["channels_last"]
    )
    torch.manual_seed(0)
    gen = build_generator(base["model"]).train()
    loss_fn = build_feature_loss(LossConfig(vgg_weights=VGG_WEIGHTS))
    shape = (base["batch"], 3, base["side"], base["side"])
    gmac_gen = count_gmac(gen, shape) / base["batch"]
    gmac_vgg = count_gmac(loss_fn.features, shape) / base["batch"]
    gen = prec.model(gen)
    loss_fn.to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    opt = adam(layer_groups(gen), discriminative_lrs(GenStage().lr), GenPretrainConfig().wd)
    scaler = prec.scaler()
    x = prec.batch(torch.randn(shape[0], 1, *shape[2:]).expand(shape).contiguous())
    y = prec.batch(torch.randn(shape))

    def step() -> None:
        with prec.autocast():
            pred = gen(x)
            loss = loss_fn(pred.float(), y)
        optimizer_step(opt, scaler, loss)

    gmac = {"gmac": 3 * gmac_gen + 3 * gmac_vgg, "gmac_gen_fwd": gmac_gen, "gmac_vgg_fwd": gmac_vgg}
    return step, gmac


def _with_speedup(group: list[Record]) -> list[Record]:
    """``speedup`` of each record over the group's first (fp32) record, in steps per second."""
    base = group[0]["steps_per_s"]
    return [{**r, "speedup": r["steps_per_s"] / base} for r in group]
