"""The chapters' models against their public references, at equal wall-clock time.

Each pair trains side by side, one process and one thread each, for the same number of seconds on
the same data, so that whatever else loads the machine slows both alike. Then each is measured on
the 10,000 test images:

- VAEs, in nats per image (negative ELBO, one code sample each): ours is the shipped ``vae-16``'s
  architecture; the reference is PyTorch's example VAE (784-400-20 MLP, Adam 1e-3, batch 128).
- Auto-encoders with a 16-number code, in MSE per pixel: ours is ``autoencoder-16``'s
  architecture; the reference is shaped like StTom88's model (stride-2 convolutions of 16 and 32
  channels, a linear code, binary cross-entropy, Adam 2e-3, batch 128).

Ours trains with its ``make checkpoints`` recipe (Adam, batch 128, a one-cycle schedule peaking at
the spec's ``max_lr``: 0.004 for the VAE, 0.008 for the auto-encoder), the schedule's length fitted
to the budget from the time of its first batches; the references train with their constant learning
rates until the time is up. Our auto-encoder has the reference's very shape (stride-2 convolutions
of 16 and 32 channels into a linear code), so that pair measures the training recipe alone (and
our channels-last layout, slightly slower on one thread).
"""

import math
import multiprocessing
import time

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checkpoints import SPECS, measure
from course_utils.data import load_fashion_mnist
from course_utils.likelihood import evaluate_vae


class PyTorchExampleVAE(nn.Module):
    """The VAE of pytorch/examples (vae/main.py): 784-400-20, decoder 20-400-784, logits out."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def encode(self, x):
        hidden = F.relu(self.fc1(x.flatten(1)))
        return self.fc21(hidden), self.fc22(hidden)

    def decode(self, z):
        return self.fc4(F.relu(self.fc3(z))).view(-1, 1, 28, 28)


def sttom88_autoencoder():
    """Stride-2 convolutions of 16 and 32 channels and a linear 16-number code, mirrored."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 16),
        nn.Linear(16, 32 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (32, 7, 7)),
        nn.ConvTranspose2d(32, 16, 3, 2, 1, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(16, 1, 3, 2, 1, output_padding=1),
    )  # fmt: skip


def _vae_loss(model, x):
    mean, log_var = model.encode(x)
    z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
    nll = F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="sum")
    return (nll + 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum()) / len(x)


def _ae_loss(model, x):
    return F.binary_cross_entropy_with_logits(model(x), x, reduction="sum") / len(x)


def _contestant(name):
    """(model, loss, learning rate, one-cycle?) for one of the four contestants."""
    if name == "ours-vae":
        return SPECS["vae-16"].build(), _vae_loss, SPECS["vae-16"].max_lr, True
    if name == "ours-ae":
        return SPECS["autoencoder-16"].build(), _ae_loss, SPECS["autoencoder-16"].max_lr, True
    if name == "pytorch-example-vae":
        return PyTorchExampleVAE(), _vae_loss, 1e-3, False
    return sttom88_autoencoder(), _ae_loss, 2e-3, False


def train_for(name, seconds, batch_size=128, seed=0) -> dict:
    """Train contestant ``name`` for ``seconds`` on one thread; its test result and epochs."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    images = load_fashion_mnist("train").tensors[0]
    model, loss_of, lr, one_cycle = _contestant(name)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler, steps, batches_per_epoch = None, 0, math.ceil(len(images) / batch_size)
    if one_cycle:  # a schedule as long as the budget allows, from the time of a few batches
        total = max(2, int(seconds / _seconds_per_batch(model, loss_of, images[:batch_size])))
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, lr, total_steps=total)
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    while True:
        order = torch.randperm(len(images), generator=generator)
        for batch in order.split(batch_size):
            loss = loss_of(model, images[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            steps += 1
            elapsed = time.perf_counter() - start
            finished = scheduler is not None and steps + 1 >= scheduler.total_steps
            if elapsed >= seconds or finished:
                return _result(name, model, steps, batches_per_epoch, elapsed)
            if scheduler is not None:
                scheduler.step()


def _seconds_per_batch(model, loss_of, batch, repeats=5):
    """Forward and backward passes, without an optimiser step (the model stays as it is)."""
    loss_of(model, batch).backward()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        loss_of(model, batch).backward()
    model.zero_grad(set_to_none=True)
    return (time.perf_counter() - start) / repeats * 1.1  # the step itself: about a tenth more


def _result(name, model, steps, batches_per_epoch, elapsed):
    test = load_fashion_mnist("test").tensors[0]
    model.eval()
    if name.endswith("vae"):
        value = evaluate_vae(model, test)["negative_elbo"]
    else:
        value = measure(model, test)["mse"]
    return {"test": value, "epochs": round(steps / batches_per_epoch, 2), "seconds": elapsed}


def race(ours, reference, seconds):
    """Train both at once for ``seconds``; the results and the ratio ours ÷ reference."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        runs = [pool.apply_async(train_for, (name, seconds)) for name in (ours, reference)]
        mine, theirs = (run.get() for run in runs)
    return {"ours": mine, "reference": theirs, "ratio": mine["test"] / theirs["test"]}


def bench_references(seconds=120):
    """Both pairs, each for ``seconds``; flat results for the bench table."""
    result = {}
    pairs = {"vae": ("ours-vae", "pytorch-example-vae"), "ae": ("ours-ae", "sttom88-ae")}
    for kind, (ours, reference) in pairs.items():
        outcome = race(ours, reference, seconds)
        unit = "nats" if kind == "vae" else "mse"
        for side in ("ours", "reference"):
            run = outcome[side]
            result[f"{kind}_{side}_{unit}@{seconds}s"] = round(run["test"], 4)
            result[f"{kind}_{side}_epochs@{seconds}s"] = run["epochs"]
        result[f"{kind}_ratio_ours/reference@{seconds}s"] = round(outcome["ratio"], 4)
    return result
