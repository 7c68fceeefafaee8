"""Loss functions, each the negative log-likelihood of an assumption about the pixels.

An auto-encoder's decoder outputs logits; what they mean depends on what we assume about the
pixel values, and the loss must agree with that assumption (chapter 4). ``loss_for(name)`` pairs
each assumption with its loss, so that a model's ``assumption`` and its loss cannot drift apart:

============  =====================================  ===================================
assumption    what a pixel is                        loss (mean per pixel)
============  =====================================  ===================================
``gauss``     a real number, Gaussian around logit   mean squared error
``censored``  a Gaussian clipped into [0, 1]         its negative log-likelihood
``bernoulli`` a probability of "on" (grey in [0,1])  binary cross-entropy with logits
``binary``    exactly 0 or 1                         binary cross-entropy with logits
============  =====================================  ===================================

Every loss takes ``(logits, target)`` and returns the mean over all pixels of the batch.
"""

import math

import torch
import torch.nn.functional as F

#: The assumptions about pixel values that the course's models and losses understand.
ASSUMPTIONS = ("gauss", "censored", "bernoulli", "binary")

#: Noise level of the censored Gaussian, in pixel units of [0, 1].
CENSORED_SIGMA = 0.1

#: Names the course used before, and what they are called now.
RENAMED = {
    "truncated": "censored",
    "truncated_loss": "censored_loss",
    "TRUNCATED_SIGMA": "CENSORED_SIGMA",
}
_WHY = "a Gaussian clipped into [0, 1] is censored (its mass beyond 0 and 1 is kept), not truncated"


def check_assumption(assumption) -> str:
    """Return ``assumption`` if it is one of :data:`ASSUMPTIONS`, else raise a ``ValueError``."""
    if assumption in RENAMED:
        raise ValueError(
            f"the assumption {assumption!r} was renamed {RENAMED[assumption]!r} ({_WHY}): "
            f"use {RENAMED[assumption]!r}"
        )
    if assumption not in ASSUMPTIONS:
        valid = ", ".join(repr(a) for a in ASSUMPTIONS)
        raise ValueError(f"unknown assumption {assumption!r}: choose one of {valid}")
    return assumption


def standard_normal_log_density(x):
    """``log N(x; 0, 1) = -(x² + log 2π) / 2`` of each element, in nats."""
    return -0.5 * (x.pow(2) + math.log(2 * math.pi))


def gauss_loss(logits, target):
    """Mean squared error: the Gaussian negative log-likelihood up to scale and constant."""
    return F.mse_loss(logits, target)


def censored_loss(logits, target, sigma=CENSORED_SIGMA):
    """Negative log-likelihood of a Gaussian (mean ``logits``) whose values are clipped to [0, 1].

    A pixel at 0 (or 1) stands for every value the Gaussian puts below 0 (above 1), so its
    likelihood is a probability, Φ(−μ/σ) (or Φ((μ−1)/σ)); a pixel inside (0, 1) has the Gaussian
    density. Statisticians call this a censored Gaussian (Tobit model).
    """
    mu = logits
    inside = math.log(sigma) - standard_normal_log_density((target - mu) / sigma)
    at_zero = -torch.special.log_ndtr(-mu / sigma)
    at_one = -torch.special.log_ndtr((mu - 1) / sigma)
    nll = torch.where(target <= 0, at_zero, torch.where(target >= 1, at_one, inside))
    return nll.mean()


def bernoulli_loss(logits, target):
    """Binary cross-entropy on logits: the Bernoulli negative log-likelihood."""
    return F.binary_cross_entropy_with_logits(logits, target)


def binary_loss(logits, target):
    """Binary cross-entropy on logits, for targets that are exactly 0 or 1."""
    return F.binary_cross_entropy_with_logits(logits, target)


LOSSES = {
    "gauss": gauss_loss,
    "censored": censored_loss,
    "bernoulli": bernoulli_loss,
    "binary": binary_loss,
}


def loss_for(assumption):
    """The loss function that matches ``assumption`` (one of :data:`ASSUMPTIONS`)."""
    return LOSSES[check_assumption(assumption)]


def bernoulli_nll_per_image(logits, target):
    """Binary cross-entropy on logits summed over each image's pixels: ``-log p(x | z)`` per image."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)


def bernoulli_nll(logits, target):
    """Binary cross-entropy on logits, summed over each image's pixels and averaged over images.

    The reconstruction term of a VAE's negative ELBO in nats per image, the same units as
    ``VariationalAutoEncoder.regularisation``; :func:`bernoulli_loss` is this divided by the
    number of pixels per image.
    """
    return bernoulli_nll_per_image(logits, target).mean()


def bernoulli_nll_floor(target):
    """The smallest :func:`bernoulli_nll` any logits can reach on ``target``, in nats per image.

    Binary cross-entropy is smallest when the predicted probability equals the pixel, and is then
    the pixel's binary entropy, which is above zero for grey pixels: summed over pixels, averaged
    over images.
    """
    entropy = -(torch.xlogy(target, target) + torch.xlogy(1 - target, 1 - target))
    return entropy.sum() / len(target)


class RegularisedLoss:
    """``reconstruction(prediction, target) + weight * regulariser(params)``, reporting both parts.

    Takes a model's output ``(prediction, params)``, e.g. a VAE's ``(logits, (mean, log_var))``,
    and returns ``{"loss": total, "reconstruction": ..., "regularisation": ...}``: the ``Trainer``
    minimises ``"loss"`` and logs the parts. Nothing is kept between calls, so ``weight`` may change
    at any time (annealing between epochs or batches) and each batch reports its own parts. Give
    both parts the same units and batch reduction (e.g. nats per image), or the weight silently
    absorbs the difference.
    """

    def __init__(self, reconstruction, regulariser, weight=1.0):
        self.reconstruction = reconstruction
        self.regulariser = regulariser
        self.weight = weight

    @property
    def weight(self) -> float:
        """How many units of reconstruction one unit of regularisation costs."""
        return self._weight

    @weight.setter
    def weight(self, value):
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"weight must be a finite number >= 0, not {value}")
        self._weight = value

    def __call__(self, output, target):
        prediction, params = output
        reconstruction = self.reconstruction(prediction, target)
        regularisation = self.regulariser(params)
        total = reconstruction + self.weight * regularisation
        return {"loss": total, "reconstruction": reconstruction, "regularisation": regularisation}

    def __repr__(self):
        parts = (getattr(f, "__name__", repr(f)) for f in (self.reconstruction, self.regulariser))
        return "RegularisedLoss({}, {}, weight={:g})".format(*parts, self.weight)


def __getattr__(name):
    """Say what an old name of this module is called now."""
    if name in RENAMED:
        raise AttributeError(f"{name} was renamed {RENAMED[name]} ({_WHY}): use {RENAMED[name]}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
