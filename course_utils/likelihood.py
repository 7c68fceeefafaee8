"""How good is a VAE? Its negative ELBO and Burda et al.'s importance-weighted bound, in nats.

Both bound the negative log-likelihood ``-log p(x)`` of an image from above. The ELBO uses one code
sampled from the encoder's ``q(z | x)``; the importance-weighted bound (Burda, Grosse and Salakhutdinov, 2016)
averages ``K`` importance weights ``p(x | z) p(z) / q(z | x)`` inside the logarithm, and tightens
towards ``-log p(x)`` as ``K`` grows (``K = 1`` is the ELBO again). The model needs ``encode``
(mean, log-variance) and ``decode`` (logits of Bernoulli pixels), like ``VariationalAutoEncoder``.
"""

import math

import torch

from .losses import bernoulli_nll_per_image, standard_normal_log_density


def reparameterise(mean, log_var, noise):
    """The code ``mean + std * noise`` with ``std = exp(log_var / 2)`` (Kingma and Welling, 2014).

    With ``noise ~ N(0, I)`` drawn outside the computation, it is a sample of
    ``N(mean, exp(log_var))`` through which gradients reach ``mean`` and ``log_var``.
    """
    return mean + torch.exp(0.5 * log_var) * noise


def gaussian_kl_terms(mean, log_var):
    """KL divergence from ``N(mean, exp(log_var))`` to ``N(0, 1)`` in each latent dimension, in nats.

    Closed form (Kingma and Welling, 2014, appendix B), element by element.
    """
    return 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var)


def gaussian_kl(mean, log_var):
    """KL divergence from ``N(mean, exp(log_var))`` to ``N(0, I)``, one number per row, in nats.

    The sum of :func:`gaussian_kl_terms` over the latent dimensions.
    """
    return gaussian_kl_terms(mean, log_var).flatten(1).sum(1)


def bits_per_dim(nats, pixels=28 * 28) -> float:
    """Nats per image as bits per pixel, ``nats / (pixels ln 2)``: the unit of most VAE papers."""
    if pixels < 1:
        raise ValueError(f"pixels must be a positive number of pixels per image, not {pixels}")
    return float(nats) / (pixels * math.log(2))


def _device(model):
    return next(model.parameters()).device


def evaluate_vae(model, images, seed=0, batch_size=1000) -> dict:
    """Mean ``reconstruction``, ``kl`` and ``negative_elbo`` per image, one code sample each.

    The samples come from seed ``seed``, so the numbers are reproducible on one device.
    """
    device, generator = _device(model), torch.Generator().manual_seed(seed)
    totals = {"reconstruction": 0.0, "kl": 0.0}
    with torch.no_grad():
        for x in images.split(batch_size):
            x = x.to(device)
            mean, log_var = model.encode(x)
            noise = torch.randn(mean.shape, generator=generator).to(device)
            logits = model.decode(reparameterise(mean, log_var, noise))
            totals["reconstruction"] += bernoulli_nll_per_image(logits, x).sum().item()
            totals["kl"] += gaussian_kl(mean, log_var).sum().item()
    result = {name: total / len(images) for name, total in totals.items()}
    result["negative_elbo"] = result["reconstruction"] + result["kl"]
    return result


def importance_weighted_nll(model, images, samples, seed=0, batch_size=None) -> float:
    """Burda et al.'s bound with ``samples`` codes per image, as nats per image (≥ -log p(x)).

    ``-log (1/K Σ_k p(x | z_k) p(z_k) / q(z_k | x))`` with ``z_k ~ q(z | x)``, averaged over
    ``images``, computed stably in log space (``logsumexp``).
    """
    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    device, generator = _device(model), torch.Generator().manual_seed(seed)
    batch_size = batch_size or max(1, 20_000 // samples)  # about 20,000 decoded images at once
    total = 0.0
    with torch.no_grad():
        for x in images.split(batch_size):
            x = x.to(device)
            mean, log_var = model.encode(x)
            noise = torch.randn((samples, *mean.shape), generator=generator).to(device)
            z = reparameterise(mean, log_var, noise)  # K × N × d
            logits = model.decode(z.flatten(0, 1))
            targets = x.expand(samples, *x.shape).flatten(0, 1)
            log_px_z = -bernoulli_nll_per_image(logits, targets).view(samples, len(x))
            log_pz = standard_normal_log_density(z).sum(2)
            # z = mean + std * noise: log q(z | x) = log N(noise; 0, 1) - log std, per dimension
            log_qz = (standard_normal_log_density(noise) - 0.5 * log_var).sum(2)
            log_weights = log_px_z + log_pz - log_qz
            bound = torch.logsumexp(log_weights, dim=0) - math.log(samples)
            total -= bound.sum().item()
    return total / len(images)
