"""Long-trained models that ship with the course, and the one command that makes them.

A chapter trains its model live for a short run (its curve, its exercise), then loads one of
these for the analysis: :func:`pretrained` returns the model, in evaluation mode, and what is
known about it (``info["test"]``: the test metrics recorded when it was made; ``info["made"]``:
seed, epochs, time, device; ``info["history"]``: its training curve).

``make checkpoints`` (``python -m course_utils.checkpoints``) remakes every model in
:data:`SPECS` from seed 0 on the 60,000 training images, with Adam under a one-cycle learning
rate schedule, and stores its weights in float16 beside this module (package data, so a
``pip install`` brings them). The test metrics are measured on the CPU after that rounding, on the
model exactly as it ships.
"""

import argparse
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .data import AutoEncoding, BatchLoader, load_fashion_mnist
from .likelihood import evaluate_vae, importance_weighted_nll
from .losses import RegularisedLoss, bernoulli_nll, bernoulli_nll_per_image
from .models import AutoEncoder, VariationalAutoEncoder
from .training import Trainer, TrainingDiverged

#: Where the shipped checkpoints live: package data, so that an installed course_utils has them.
FOLDER = Path(__file__).with_name("pretrained")
SEED = 0
#: Importance samples per test image for the recorded importance-weighted bound.
IWAE_SAMPLES = 100

_STRIDED = dict(in_channels=1, kernel_size=3, stride=2, pooling=1)


@dataclass(frozen=True)
class Spec:
    """How one checkpoint is made: model class and arguments, epochs, batch size, peak rate."""

    model: type
    config: dict = field(default_factory=dict)
    epochs: int = 40
    batch_size: int = 128
    max_lr: float = 2e-3

    def build(self):
        """A fresh model; ``config["activation"]`` is a name in ``torch.nn`` (``"SiLU"``)."""
        config = dict(self.config)
        if "activation" in config:
            config["activation"] = getattr(nn, config["activation"])()
        return self.model(**config)


def _autoencoder(code_size):
    # stride-2 convolutions of 16 and 32 channels straight into the linear code: chosen for what
    # they reach in a given time on a CPU (bench/references.py), with a high one-cycle peak
    config = dict(_STRIDED, hid_channels=(16, 32), code_channels=None)
    config.update(assumption="bernoulli", code_size=code_size)
    return Spec(AutoEncoder, config, epochs=60, max_lr=8e-3)


#: Every shipped model: chapter 4's auto-encoders (one per code size of its sweep, 16 is its best
#: model) and chapters 5–6's VAEs (16 latent dimensions; 2 for the latent plane).
SPECS = {
    **{f"autoencoder-{size}": _autoencoder(size) for size in (2, 4, 8, 16, 32, 64)},
    "vae-16": Spec(  # small and smooth (SiLU): ahead of PyTorch's example VAE in a given time
        VariationalAutoEncoder,
        dict(
            _STRIDED,
            hid_channels=(16, 32),
            code_channels=32,
            latent_dim=16,
            hidden_size=256,
            activation="SiLU",
        ),
        epochs=120,
        max_lr=4e-3,
    ),
    "vae-2": Spec(
        VariationalAutoEncoder,
        dict(_STRIDED, hid_channels=(32, 64), code_channels=32, latent_dim=2, hidden_size=256),
        epochs=30,
    ),
}


class CheckpointError(RuntimeError):
    """A shipped checkpoint is missing, unreadable, or does not fit its model."""


def path_of(name, folder=None) -> Path:
    """The file of checkpoint ``name``."""
    _spec(name)
    return Path(folder or FOLDER) / f"{name}.pt"


def pretrained(name, folder=None, device="cpu"):
    """The shipped model ``name`` (see :data:`SPECS`) in evaluation mode, and its ``info``."""
    spec, path = _spec(name), path_of(name, folder)
    if not path.exists():
        raise CheckpointError(
            f"no checkpoint {path}: reinstall course_utils, or make it with `make checkpoints`"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        weights = state.pop("weights")
    except Exception as error:  # a truncated or foreign file: say which, and how to fix it
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({error}); remake it with `make checkpoints`"
        ) from None
    if state.get("config") != _plain(spec.config):
        raise CheckpointError(
            f"{path} was made for another architecture ({state.get('config')}), not "
            f"{_plain(spec.config)}; remake it with `make checkpoints`"
        )
    model = spec.build()
    try:
        model.load_state_dict({key: value.float() for key, value in weights.items()})
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not fit {spec.model.__name__}: {error}") from None
    return model.to(device).eval(), state


def make(name, folder=None, device=None, limit=None, epochs=None) -> dict:
    """Train checkpoint ``name`` from seed 0, measure it on the test set, and save it.

    ``limit`` and ``epochs`` shorten the run (for trying the command out, not for shipping):
    ``limit`` also measures on the first ``limit`` test images only. Returns the info saved
    beside the weights.
    """
    spec = _spec(name)
    epochs = epochs or spec.epochs
    train = load_fashion_mnist("train", limit=limit).tensors[0]
    torch.manual_seed(SEED)
    model = spec.build()
    loader = BatchLoader(AutoEncoding(train), spec.batch_size, shuffle=True, seed=SEED)
    trainer = Trainer(model, _loss(model), lr=spec.max_lr, device=device)
    trainer.scheduler = torch.optim.lr_scheduler.OneCycleLR(
        trainer.optimiser, spec.max_lr, total_steps=epochs * len(loader)
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingDiverged)  # stop at once, save nothing
        try:
            trainer.fit(loader, epochs=epochs, shorten=False)
        except TrainingDiverged as error:
            raise CheckpointError(
                f"{name} was not saved: {error}; lower its max_lr in SPECS (now {spec.max_lr})"
            ) from None
    seconds = time.perf_counter() - start
    weights = {key: value.half().cpu() for key, value in model.state_dict().items()}
    info = {
        "config": _plain(spec.config),
        "made": {
            "command": "make checkpoints",
            "seed": SEED,
            "epochs": epochs,
            "training_images": len(train),
            "batch_size": spec.batch_size,
            "max_lr": spec.max_lr,
            "seconds": round(seconds, 1),
            "device": _device_name(trainer.device),
            "torch": str(torch.__version__),
        },
        "history": trainer.history,
    }
    shipped = spec.build()  # the model as it ships: float16 weights, read back as float32
    shipped.load_state_dict({key: value.float() for key, value in weights.items()})
    test = load_fashion_mnist("test", limit=limit).tensors[0]
    info["test"] = measure(shipped.eval(), test)
    if isinstance(shipped, VariationalAutoEncoder):
        iwae = importance_weighted_nll(shipped.to(trainer.device), test, IWAE_SAMPLES)
        info["test"].update(iwae=iwae, iwae_samples=IWAE_SAMPLES)
    path = path_of(name, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({**info, "weights": weights}, partial)
    partial.replace(path)  # never a half-written checkpoint under the real name
    return info


def measure(model, images) -> dict:
    """The test metrics recorded for ``model`` on ``images``, on the CPU, from seed 0.

    Auto-encoders: ``mse`` per pixel of the intensities, ``bce`` in nats per image. VAEs:
    ``reconstruction``, ``kl`` and ``negative_elbo`` in nats per image (one code sample each).
    """
    model = model.cpu().eval()
    if isinstance(model, VariationalAutoEncoder):
        return evaluate_vae(model, images, seed=SEED)
    squared, nats = 0.0, 0.0
    with torch.no_grad():
        for x in images.split(1000):
            logits = model(x)
            squared += (torch.sigmoid(logits) - x).pow(2).sum().item()
            nats += bernoulli_nll_per_image(logits, x).sum().item()
    return {"mse": squared / images.numel(), "bce": nats / len(images)}


def _loss(model):
    """Binary cross-entropy in nats per image, plus the KL (weight 1) for a VAE."""
    if isinstance(model, VariationalAutoEncoder):
        return RegularisedLoss(bernoulli_nll, model.regularisation, weight=1.0)
    return bernoulli_nll


def _spec(name):
    if name not in SPECS:
        raise KeyError(f"no checkpoint named {name!r}; there are {', '.join(SPECS)}")
    return SPECS[name]


def _plain(config):
    """A configuration as saved: tuples as lists, so that it survives ``weights_only`` loading."""
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in config.items()
    }


def _device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Make the course's shipped checkpoints.")
    parser.add_argument("names", nargs="*", help=f"which (default: all of {', '.join(SPECS)})")
    parser.add_argument("--device", help="cuda or cpu (default: cuda if there is one)")
    parser.add_argument("--folder", type=Path, help=f"where to write them (default: {FOLDER})")
    parser.add_argument("--limit", type=int, help="train on this many images only (a try-out)")
    parser.add_argument("--epochs", type=int, help="train this many epochs only (a try-out)")
    args = parser.parse_args(argv)
    for name in args.names or SPECS:
        info = make(name, args.folder, args.device, args.limit, args.epochs)
        made, test = info["made"], info["test"]
        shown = ", ".join(f"{key} {value:.4g}" for key, value in test.items())
        print(f"{name}: {made['epochs']} epochs in {made['seconds']:.0f} s on {made['device']}")
        print(f"  test: {shown}", flush=True)


if __name__ == "__main__":
    main()
