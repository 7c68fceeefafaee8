"""How good is a VAE? Its negative ELBO and Burda et al.'s importance-weighted bound, in nats.

Both bound the negative log-likelihood ``-log p(x)`` of an image from above. The ELBO uses one code
sampled from the encoder's ``q(z | x)``; the importance-weighted bound (Burda, Grosse and Salakhutdinov, 2016)
averages ``K`` importance weights ``p(x | z) p(z) / q(z | x)`` inside the logarithm, and tightens
towards ``-log p(x)`` as ``K`` grows (``K = 1`` is the ELBO again). The model needs ``encode``
(mean, log-variance) and ``decode`` (logits of Bernoulli pixels), like ``VariationalAutoEncoder``.
"""

import math

import torch
import torch.nn.functional as F


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
            logits = model.decode(mean + torch.exp(0.5 * log_var) * noise)
            bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum()
            totals["reconstruction"] += bce.item()
            totals["kl"] += kl.item()
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
            std = torch.exp(0.5 * log_var)
            noise = torch.randn((samples, *mean.shape), generator=generator).to(device)
            z = mean + std * noise  # K × N × d
            logits = model.decode(z.flatten(0, 1)).view(samples, *x.shape)
            log_px_z = (
                -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
                .flatten(2)
                .sum(2)
            )
            log_pz = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(2)
            log_qz = (-0.5 * noise.pow(2) - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(2)
            log_weights = log_px_z + log_pz - log_qz
            bound = torch.logsumexp(log_weights, dim=0) - math.log(samples)
            total -= bound.sum().item()
    return total / len(images)
