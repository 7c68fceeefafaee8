"""One small ``Trainer`` for every chapter.

A loss function takes ``(model_output, target)`` and returns either a scalar tensor, or a dict of
named scalar tensors whose ``"loss"`` entry is the one to minimise (the others, e.g. the parts of a
regularised loss or an accuracy, are only recorded). Losses are means over the batch; the trainer
averages them over each epoch, weighted by batch size.
"""

import math
import os
import sys
import time
import warnings
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .fastmode import FAST_BATCHES, is_fast

#: Set to 1 for plain text lines instead of live bars, e.g. when the site is built: a saved bar
#: would be a widget on every page, and a finished bar says no more than its line.
PLAIN_PROGRESS_ENV = "COURSE_PLAIN_PROGRESS"


class TrainingDiverged(RuntimeWarning):
    """The training loss stopped being a finite number: the weights are no longer usable."""


def default_device() -> torch.device:
    """CUDA when there is a GPU, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Trainer:
    """Fit ``model`` by minimising ``loss``, evaluating on held-out data after every epoch.

    ``history["train"][name]`` and ``history["valid"][name]`` hold one value per epoch for every
    part the loss reports; ``history["epoch"]`` numbers the epochs from 1, across ``fit`` calls.
    ``history["batches"]`` holds the training loss parts finer: their mean over each tenth of an
    epoch, at ``history["batches"]["epoch"]``, the fraction of epochs trained when it ended.
    ``scheduler``, if set (e.g. ``torch.optim.lr_scheduler.OneCycleLR``), steps after every batch.
    """

    #: How many points per epoch ``history["batches"]`` gets.
    POINTS_PER_EPOCH = 10

    def __init__(self, model, loss, optimiser=None, lr=1e-3, device=None, scheduler=None):
        self.device = torch.device(device) if device else default_device()
        self.model = model.to(self.device)
        self.loss = loss
        self.optimiser = optimiser or torch.optim.Adam(self.model.parameters(), lr=lr)
        self.scheduler = scheduler
        self.history = {"epoch": [], "train": {}, "valid": {}, "batches": {"epoch": []}}

    @property
    def epoch(self) -> int:
        """The number of epochs trained so far."""
        return len(self.history["epoch"])

    def fit(self, train_data, valid_data=None, epochs=1, *, shorten=True):
        """Train for ``epochs`` epochs (one short epoch in fast mode) and return the history.

        ``shorten=False`` trains every epoch in full even in fast mode: for a test that judges
        what training achieved, on data it has kept small itself.
        """
        shorten = shorten and is_fast()
        max_batches = FAST_BATCHES if shorten else None
        epochs = 1 if shorten else epochs
        last, diverged = self.epoch + epochs, False
        for epoch in range(self.epoch + 1, last + 1):
            start = time.perf_counter()
            with _progress(len(train_data), max_batches, f"epoch {epoch}/{last}") as bar:
                train = self._run(
                    train_data, bar, train=True, max_batches=max_batches, epoch=epoch - 1
                )
                valid = self.evaluate(valid_data, max_batches) if valid_data is not None else {}
                bar.set_postfix_str(_summary(train, valid))
            self._record(epoch, train, valid)
            if not math.isfinite(train["loss"]) and not diverged:
                diverged = True  # once per fit: every later epoch would say the same
                warnings.warn(
                    f"the training loss is {train['loss']} in epoch {epoch}: training has "
                    "diverged and further epochs change nothing; lower the learning rate, or "
                    "check the loss for a log of 0 or a division by 0",
                    TrainingDiverged,
                    stacklevel=2,
                )
            if bar.disable:  # no live bar (a log, not a terminal or notebook): one line per epoch
                took = time.perf_counter() - start
                print(f"epoch {epoch}/{last}: {_summary(train, valid)} ({took:.1f} s)", flush=True)
        return self.history

    def evaluate(self, data, max_batches=None) -> dict:
        """Mean of every loss part over ``data``, in evaluation mode and without gradients."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return self._run(data, None, train=False, max_batches=max_batches)
        finally:
            self.model.train(was_training)

    def save(self, path, overwrite=False):
        """Save model, optimiser and history to ``path``; an existing file needs ``overwrite``."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        state = {
            "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "history": self.history,
        }
        partial = path.with_name(path.name + ".partial")
        torch.save(state, partial)
        partial.replace(path)  # never leave a half-written checkpoint under the real name

    def load(self, path):
        """Restore model, optimiser and history saved by :meth:`save`."""
        state = torch.load(path, map_location=self.device, weights_only=True)
        try:
            self.model.load_state_dict(state["model"])
            self.optimiser.load_state_dict(state["optimiser"])
        except (KeyError, RuntimeError, ValueError) as error:
            raise ValueError(f"{path} does not fit this model and optimiser: {error}") from None
        self.history = state["history"]
        self.history.setdefault("batches", {"epoch": []})
        return self

    def _run(self, data, bar, train, max_batches, epoch=None):
        """One pass over ``data``; returns the batch-size weighted mean of every loss part.

        In training, also records the mean of every part over each tenth of the pass.
        """
        self.model.train(train)
        sums, count = {}, 0
        total = len(data) if max_batches is None else min(len(data), max_batches)
        every = max(1, total // self.POINTS_PER_EPOCH)
        marked, marked_count = {}, 0  # the sums at the last recorded point
        for i, (x, y) in enumerate(data):
            if max_batches is not None and i >= max_batches:
                break
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            parts = self.loss(self.model(x), y)
            if not isinstance(parts, dict):
                parts = {"loss": parts}
            if train:
                self.optimiser.zero_grad(set_to_none=True)
                parts["loss"].backward()
                self.optimiser.step()
                if self.scheduler is not None:
                    self.scheduler.step()
            n = len(x)
            for name, value in parts.items():  # summed as tensors: no device sync per batch
                sums[name] = sums.get(name, 0.0) + value.detach() * n
            count += n
            if train and epoch is not None and ((i + 1) % every == 0 or i + 1 == total):
                now = {name: float(value) for name, value in sums.items()}
                chunk = {name: now[name] - marked.get(name, 0.0) for name in now}
                self._record_batches(epoch + (i + 1) / total, chunk, count - marked_count)
                marked, marked_count = now, count
            if bar is not None:
                bar.update()
        if count == 0:
            raise ValueError("no batches to run: the data is empty")
        return {name: float(total / count) for name, total in sums.items()}

    def _record_batches(self, at, sums, count):
        batches = self.history["batches"]
        batches["epoch"].append(at)
        for name, total in sums.items():
            batches.setdefault(name, []).append(float(total / count))

    def _record(self, epoch, train, valid):
        self.history["epoch"].append(epoch)
        for split, parts in (("train", train), ("valid", valid)):
            for name, value in parts.items():
                self.history[split].setdefault(name, []).append(value)


def _summary(train, valid):
    text = "  ".join(f"train {k} {v:.4g}" for k, v in train.items())
    return text + "".join(f"  valid {k} {v:.4g}" for k, v in valid.items())


def _progress(batches, max_batches, desc):
    """A live bar in notebooks and terminals; a disabled one (plain lines instead) in logs."""
    total = min(batches, max_batches) if max_batches is not None else batches
    plain = os.environ.get(PLAIN_PROGRESS_ENV, "") not in ("", "0")
    live = (_in_notebook() or sys.stderr.isatty()) and not plain
    return tqdm(total=total, desc=desc, leave=True, disable=not live, mininterval=0.5)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config
