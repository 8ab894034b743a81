"""The GAN phase (NoGAN step 4): generator and critic alternate under the adaptive critic-loss threshold.

Faithful to fastai's ``GANLearner.from_learners`` as DeOldify uses it:

* critic step: ``(BCE(critic(real), 1) + BCE(critic(G(x)), 0)) / 2`` with the generator fixed;
* generator step: ``w0·FeatureLoss(G(x), y) + w1·BCE(critic(G(x)), 1)`` with the critic fixed;
* :class:`~training.phases.switcher.AdaptiveSwitcher` (critic first; back to the critic after each generator step);
* Adam betas (0, 0.9), weight decay, constant learning rate, critic lr × ``critic_lr_mult``.

Both networks stay in train mode throughout (as in fastai). Generator checkpoints go to ``cycle<c>/gan/`` every
``save_every`` steps, together with a resume checkpoint; the last step is always saved.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from training import dist
from training.archs import CriticConfig, build_critic
from training.checkpoint import load_critic, load_generator, save_critic, save_generator
from training.config import to_dict
from training.data import ColorizeDataset, StepSampler, denormalise, make_loader
from training.engine import (
    adam,
    load_checkpoint,
    optimizer_step,
    requires_grad,
    rng_state,
    seed_everything,
    set_rng_state,
)
from training.losses import AdaptiveBCE, FeatureLoss, critic_loss
from training.phases.context import Run
from training.phases.critic import critic_path, gan_critic_path
from training.phases.switcher import AdaptiveSwitcher

log = logging.getLogger(__name__)


def phase_name(cycle: int) -> str:
    """The plan name of cycle ``cycle``'s GAN phase (``gan.<cycle>``)."""
    return f"gan.{cycle}"


def checkpoint_dir(run: Run, cycle: int) -> Path:
    """Where cycle ``cycle``'s GAN generator checkpoints go (the folder the inflection picker reads)."""
    return run.cycle_dir(cycle) / "gan"


def gan_steps(run: Run) -> tuple[int, int]:
    """``(total steps, checkpoint interval)`` of a GAN phase."""
    g = run.cfg.gan
    per_step = g.batch_size * run.info.world
    n = len(run.scan.train)
    total = g.max_steps if g.max_steps > 0 else max(1, round(g.keep_pct * n / per_step))
    every = g.save_every_steps if g.save_every_steps > 0 else max(1, round(g.save_every_frac * n / per_step))
    return total, every


def run_gan(run: Run, cycle: int, loss_fn: FeatureLoss) -> None:
    """Run cycle ``cycle``'s GAN phase; writes the checkpoint folder, ``generator.pt`` and ``critic_gan.pt``."""
    cfg, g = run.cfg, run.cfg.gan
    phase = phase_name(cycle)
    resume = run.resume_path(phase)
    state = load_checkpoint(resume) if resume.exists() else None
    seed_everything(run.seed(phase))
    if state is not None:
        gen = load_generator(resume)
        critic = build_critic(CriticConfig.from_dict(state["critic_config"]))
        critic.load_state_dict(state["critic_state"])
    else:
        gen = load_generator(run.generator_for_cycle(cycle))
        critic = load_critic(critic_path(run, cycle))
    gen = run.precision.model(gen.train())
    critic = run.precision.model(critic.train())
    opt_g = adam([list(gen.parameters())], [g.lr], g.wd, g.betas)
    opt_c = adam([list(critic.parameters())], [g.lr * g.critic_lr_mult], g.wd, g.betas)
    scale_g, scale_c = run.precision.scaler(), run.precision.scaler()
    switcher = AdaptiveSwitcher(critic_thresh=g.critic_thresh)
    total, every = gan_steps(run)
    step = 0
    if state is not None:
        opt_g.load_state_dict(state["optimizer"])
        opt_c.load_state_dict(state["critic_optimizer"])
        scale_g.load_state_dict(state["scaler"])
        scale_c.load_state_dict(state["critic_scaler"])
        switcher.gen_mode = bool(state["gen_mode"])
        step = int(state["step"])
        set_rng_state(state["rng"])
        run.logs.event("resume", phase=phase, step=step)
    run.logs.event("start", phase=phase, size=g.size, batch_size=g.batch_size, steps=total, save_every=every)
    gen_ddp, critic_ddp = dist.wrap(gen, run.info, run.device), dist.wrap(critic, run.info, run.device)
    loss_fn.to(run.device)
    bce = AdaptiveBCE()
    sampler = StepSampler(
        len(run.scan.train), g.batch_size, run.seed(phase), total, step, run.info.rank, run.info.world
    )
    loader = make_loader(
        ColorizeDataset(run.scan.train, cfg.data, g.size), sampler, cfg.data, run.pin_memory()
    )
    bar = run.logs.bar(phase, total, step)
    for x, y in loader:
        x, y = run.precision.batch(x), run.precision.batch(y)
        gen_step = switcher.gen_mode
        parts: dict[str, float] = {}
        if gen_step:
            with requires_grad(critic, False), run.precision.autocast():
                fake = gen_ddp(x)
                feat = loss_fn(fake.float(), y)
                adv = bce(critic(fake).float(), torch.ones(x.shape[0], device=run.device))
                loss = g.weights_gen[0] * feat + g.weights_gen[1] * adv
            optimizer_step(opt_g, scale_g, loss)
            parts = {"feature": float(feat.detach()), "adversarial": float(adv.detach())}
        else:
            with torch.no_grad(), run.precision.autocast():
                fake = gen(x)
            with run.precision.autocast():
                logits = critic_ddp(torch.cat([y, fake])).float()
                loss = critic_loss(bce, logits[: x.shape[0]], logits[x.shape[0] :])
            optimizer_step(opt_c, scale_c, loss)
        step += 1
        value = float(dist.mean_across(loss.detach()))
        switcher.update(value)
        name = "gen_loss" if gen_step else "critic_loss"
        run.logs.step(phase, step, {name: value, **parts, "gen_mode": float(gen_step)})
        bar.update(1)
        bar.set_postfix(mode="G" if gen_step else "C", loss=f"{value:.4f}")
        if step % cfg.image_every == 0 or step == total:
            run.logs.images(f"{phase}/input_output_target", step, [denormalise(t) for t in (x, fake, y)])
        if (step % every == 0 or step == total) and run.info.is_main:
            save_generator(
                checkpoint_dir(run, cycle) / f"gen_{step:07d}.pt",
                gen,
                phase=phase,
                step=step,
                images_seen=step * g.batch_size * run.info.world,
            )
            if step < total:
                extra = {
                    "optimizer": opt_g.state_dict(),
                    "critic_optimizer": opt_c.state_dict(),
                    "scaler": scale_g.state_dict(),
                    "critic_scaler": scale_c.state_dict(),
                    "critic_state": {k: v.detach().cpu() for k, v in critic.state_dict().items()},
                    "critic_config": to_dict(critic.config),
                    "gen_mode": switcher.gen_mode,
                }
                save_generator(
                    resume, gen, phase=phase, step=step, rng=rng_state(), config=to_dict(cfg), **extra
                )
    bar.close()
    run.logs.event("end", phase=phase, step=step)
    if run.info.is_main:
        save_generator(run.cycle_dir(cycle) / "generator.pt", gen, phase=phase, step=step)
        save_critic(gan_critic_path(run, cycle), critic, phase=phase, step=step)
    run.mark_done(phase)
