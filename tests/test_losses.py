"""Losses that match an assumption about pixels, checked against torch.distributions."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal

from course_utils.losses import (
    ASSUMPTIONS,
    CENSORED_SIGMA,
    LOSSES,
    bernoulli_loss,
    bernoulli_nll,
    bernoulli_nll_per_image,
    binary_loss,
    censored_loss,
    check_assumption,
    gauss_loss,
    loss_for,
    standard_normal_log_density,
)
from course_utils.models import to_intensities


def _pair(binary=False):
    torch.manual_seed(0)
    logits = torch.randn(4, 1, 6, 6) * 2
    target = torch.rand(4, 1, 6, 6)
    target[:, :, :2] = 0.0  # background pixels, as in Fashion-MNIST
    target[:, :, -1] = 1.0
    return logits, (target > 0.5).float() if binary else target


def test_gauss_loss_is_the_mean_squared_error():
    logits, target = _pair()
    assert torch.allclose(gauss_loss(logits, target), ((logits - target) ** 2).mean())


def test_gauss_loss_is_the_gaussian_nll_up_to_scale_and_constant():
    logits, target = _pair()
    nll = -Normal(logits, 1.0).log_prob(target).mean()
    assert torch.allclose(gauss_loss(logits, target) / 2 + 0.5 * math.log(2 * math.pi), nll)


@pytest.mark.parametrize("loss, binary", [(bernoulli_loss, False), (binary_loss, True)])
def test_bce_losses_are_the_bernoulli_nll(loss, binary):
    logits, target = _pair(binary)
    nll = -Bernoulli(logits=logits, validate_args=False).log_prob(target).mean()
    assert torch.allclose(loss(logits, target), nll, atol=1e-6)


def test_censored_loss_is_the_clipped_gaussian_nll():
    logits, target = _pair()
    logits = 0.5 + 0.05 * logits.double()  # within 8σ of 0 and 1: the naive cdf stays accurate
    normal, mirrored = Normal(logits, CENSORED_SIGMA), Normal(-logits, CENSORED_SIGMA)
    target = target.double()
    expected = torch.where(
        target <= 0,
        -torch.log(normal.cdf(torch.zeros_like(target))),
        torch.where(target >= 1, -torch.log(mirrored.cdf(-torch.ones_like(target))),
                    -normal.log_prob(target)),
    )  # fmt: skip
    assert torch.allclose(censored_loss(logits, target), expected.mean())


def test_censored_loss_stays_finite_far_outside_and_pulls_the_right_way():
    mu = torch.tensor([-40.0, 40.0, -40.0, 40.0, 0.3], requires_grad=True)
    target = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.3])
    loss = censored_loss(mu, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(mu.grad).all()
    assert mu.grad[0] >= 0 and mu.grad[1] <= 0  # already right: no push further (≈ 0)
    assert abs(mu.grad[0]) < 1e-6 and abs(mu.grad[1]) < 1e-6
    assert mu.grad[2] < 0 and mu.grad[3] > 0  # wrong side: pulled back
    assert mu.grad[4].abs() < 1e-6  # an inside pixel is best predicted exactly


@pytest.mark.parametrize("assumption", ASSUMPTIONS)
def test_loss_for_pairs_each_assumption_with_its_loss(assumption):
    assert loss_for(assumption) is LOSSES[assumption]
    logits, target = _pair(binary=assumption == "binary")
    expected = {
        "gauss": F.mse_loss,
        "bernoulli": F.binary_cross_entropy_with_logits,
        "binary": F.binary_cross_entropy_with_logits,
        "censored": censored_loss,
    }[assumption](logits, target)
    assert torch.allclose(loss_for(assumption)(logits, target), expected)


@pytest.mark.parametrize("assumption", ASSUMPTIONS)
def test_minimising_the_paired_loss_recovers_the_target(assumption):
    """The point of the pairing: the logits that minimise the loss, read through
    ``to_intensities`` with the same assumption, give back the image."""
    _, target = _pair(binary=assumption == "binary")
    logits = torch.zeros_like(target, requires_grad=True)
    optimiser = torch.optim.Adam([logits], lr=0.1)
    for _ in range(600):
        optimiser.zero_grad()
        loss_for(assumption)(logits, target).backward()
        optimiser.step()
    image = to_intensities(logits.detach(), assumption)
    assert (image - target).abs().max() < 0.03


def test_a_mismatched_pair_cannot_fit_standardised_targets():
    """Sigmoid outputs live in (0, 1): standardised targets below 0 are out of its reach,
    while the identity (gauss) output fits them."""
    _, target = _pair()
    standardised = (target - target.mean()) / target.std()
    errors = {}
    for name, squash in (("bernoulli", torch.sigmoid), ("gauss", lambda z: z)):
        logits = torch.zeros_like(target, requires_grad=True)
        optimiser = torch.optim.Adam([logits], lr=0.1)
        for _ in range(300):
            optimiser.zero_grad()
            F.mse_loss(squash(logits), standardised).backward()
            optimiser.step()
        image = to_intensities(logits.detach(), name)
        errors[name] = F.mse_loss(image, standardised).item()
    floor = (standardised.clamp(max=0) ** 2).mean().item()  # the best any (0, 1) output can do
    assert floor > 0.3
    assert errors["bernoulli"] >= floor
    assert errors["gauss"] < 1e-3


def test_unknown_assumption_is_a_clear_error():
    assert check_assumption("gauss") == "gauss"
    with pytest.raises(ValueError) as error:
        loss_for("mse")
    assert "'mse'" in str(error.value)
    for name in ASSUMPTIONS:
        assert repr(name) in str(error.value)


def test_bernoulli_nll_per_image_is_minus_the_bernoulli_log_likelihood_of_each_image():
    torch.manual_seed(2)
    logits, target = torch.randn(4, 1, 3, 3), torch.rand(4, 1, 3, 3).round()
    expected = -Bernoulli(logits=logits).log_prob(target).flatten(1).sum(1)
    assert torch.allclose(bernoulli_nll_per_image(logits, target), expected, atol=1e-5)
    assert torch.isclose(bernoulli_nll(logits, target), expected.mean(), atol=1e-5)


def test_the_old_name_truncated_says_it_was_renamed():
    """The censored Gaussian was called "truncated": the old names fail, naming the new ones."""
    with pytest.raises(ValueError, match="'truncated' was renamed 'censored'.*use 'censored'"):
        loss_for("truncated")
    with pytest.raises(ValueError, match="renamed 'censored'"):
        to_intensities(torch.zeros(2), "truncated")
    import course_utils.losses as losses

    for old, new in [("truncated_loss", "censored_loss"), ("TRUNCATED_SIGMA", "CENSORED_SIGMA")]:
        with pytest.raises(AttributeError, match=f"{old} was renamed {new}"):
            getattr(losses, old)
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        losses.nonsense  # noqa: B018


def test_standard_normal_log_density_is_torch_distributions():
    x = torch.linspace(-6, 6, 25, dtype=torch.float64)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(x)
    torch.testing.assert_close(standard_normal_log_density(x), expected)
