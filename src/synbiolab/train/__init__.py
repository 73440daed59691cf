"""Training: the one visible loop (``loop.fit``), the GAN step and loop, what they share, and the jobs.

``loop.py``      fit: sample a batch, forward propagate, backpropagate, update
``gan_step.py``  one GAN step: update the discriminator, then the generator
``fit_gan.py``   the GAN loop around that step
``support.py``   devices, DDP, optimisers, schedules, Ctrl-C, checkpoint, progress, divergence check
``job.py``       train: config -> data -> model -> fit -> run folder
``augment.py``   on-device augmentation (image shifts and rotations, reverse complements)
"""

from .job import default_config, finish_run, train
from .loop import FitResult, fit
from .support import Distributed, StopRequest, make_optimizer, make_schedule, select_device

__all__ = ["Distributed", "FitResult", "StopRequest", "default_config", "finish_run", "fit", "make_optimizer",
           "make_schedule", "select_device", "train"]
