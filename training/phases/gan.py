"""The GAN phase (NoGAN step 4): generator and critic alternate under the adaptive critic-loss threshold.

Faithful to fastai's ``GANLearner.from_learners`` as DeOldify uses it:

* critic step: ``(BCE(critic(real), 1) + BCE(critic(G(x)), 0)) / 2`` with the generator fixed;
* generator step: ``w0·GeneratorLoss(G(x), y) + w1·BCE(critic(G(x)), 1)`` with the critic fixed;
* :class:`~vs_colorize.training.phases.switcher.AdaptiveSwitcher` (critic first; back to the critic after each generator step);
* Adam betas (0, 0.9), weight decay, constant learning rate, critic lr × ``critic_lr_mult``.

Both networks stay in train mode throughout (as in fastai). Generator checkpoints go to ``cycle<c>/gan/`` every
``save_every`` steps, together with the phase's training state (both networks, optimisers and scalers, the
switcher, step, RNG); the last step is always saved.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from vs_colorize.training import dist
from vs_colorize.training.checkpoint import load_critic, load_generator, save_critic, save_generator
from vs_colorize.training.data import ColorizeDataset
from vs_colorize.training.losses import AdaptiveBCE, critic_loss
from vs_colorize.training.optim import adam, optimizer_step, requires_grad
from vs_colorize.training.phases.context import Phase, Run
from vs_colorize.training.phases.critic import critic_path, gan_critic_path
from vs_colorize.training.phases.loop import PhaseLoop, resume_state
from vs_colorize.training.phases.switcher import AdaptiveSwitcher

log = logging.getLogger(__name__)


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


def run_gan(run: Run, phase: Phase) -> None:
    """Run cycle ``phase.index``'s GAN phase; writes the checkpoint folder, ``generator.pt`` and ``critic_gan.pt``."""
    cfg, g, cycle = run.cfg, run.cfg.gan, phase.index
    resumed = resume_state(run, phase)
    if resumed is not None:
        gen, critic = resumed.generator(), resumed.critic()
    else:
        gen, critic = load_generator(run.generator_for_cycle(cycle)), load_critic(critic_path(run, cycle))
    gen = run.precision.model(gen.train())
    critic = run.precision.model(critic.train())
    opt_g = adam([list(gen.parameters())], [g.lr], g.wd, g.betas)
    opt_c = adam([list(critic.parameters())], [g.lr * g.critic_lr_mult], g.wd, g.betas)
    scale_g, scale_c = run.precision.scaler(), run.precision.scaler()
    switcher = AdaptiveSwitcher(critic_thresh=g.critic_thresh)
    total, every = gan_steps(run)
    loop = PhaseLoop(
        run,
        phase,
        total=total,
        save_every=every,
        resumed=resumed,
        models={"generator": gen, "critic": critic},
        optimizers={"generator": opt_g, "critic": opt_c},
        schedulers={},
        scalers={"generator": scale_g, "critic": scale_c},
        extra=lambda: {"switcher": switcher.state_dict()},
        size=g.size,
        batch_size=g.batch_size,
    )
    if resumed is not None:
        switcher.load_state_dict(loop.extra["switcher"])
    gen_ddp, critic_ddp = dist.wrap(gen, run.info, run.device), dist.wrap(critic, run.info, run.device)
    loss_fn = run.generator_loss().to(run.device)
    bce = AdaptiveBCE()

    def save_checkpoint(step: int) -> None:
        images_seen = step * g.batch_size * run.info.world
        path = checkpoint_dir(run, cycle) / f"gen_{step:07d}.pt"
        save_generator(path, gen, phase=phase.name, step=step, images_seen=images_seen)

    data = ColorizeDataset(run.scan.train, cfg.data, g.size)
    for x, y in loop.loader(data, len(run.scan.train), g.batch_size):
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
        value = float(dist.mean_across(loss.detach()))
        switcher.update(value)
        name = "gen_loss" if gen_step else "critic_loss"
        loop.end_step(
            {name: value, **parts, "gen_mode": float(gen_step)},
            postfix={"mode": "G" if gen_step else "C", "loss": f"{value:.4f}"},
            images=(x, fake, y),
            checkpoint=save_checkpoint,
        )

    def write() -> None:
        save_generator(run.cycle_dir(cycle) / "generator.pt", gen, phase=phase.name, step=loop.step)
        save_critic(gan_critic_path(run, cycle), critic, phase=phase.name, step=loop.step)

    loop.finish(write)
