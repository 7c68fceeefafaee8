"""``RegularisedLoss`` and the per-image Bernoulli losses in ``course_utils.losses``."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import TensorDataset

from course_utils.data import BatchLoader
from course_utils.losses import (
    RegularisedLoss,
    bernoulli_loss,
    bernoulli_nll,
    bernoulli_nll_floor,
)
from course_utils.models import VariationalAutoEncoder
from course_utils.training import Trainer


def squared(prediction, target):
    return ((prediction - target) ** 2).sum(1).mean()


def l2(params):
    return (params**2).sum(1).mean()


def output_and_target(seed=0):
    g = torch.Generator().manual_seed(seed)
    prediction = torch.randn(6, 3, generator=g, requires_grad=True)
    params = torch.randn(6, 2, generator=g, requires_grad=True)
    return (prediction, params), torch.randn(6, 3, generator=g)


@settings(max_examples=50, deadline=None)
@given(weight=st.floats(0, 1e4), seed=st.integers(0, 10_000))
def test_parts_add_up_to_the_total_under_any_weight(weight, seed):
    (prediction, params), target = output_and_target(seed)
    parts = RegularisedLoss(squared, l2, weight)((prediction, params), target)
    assert set(parts) == {"loss", "reconstruction", "regularisation"}
    torch.testing.assert_close(parts["reconstruction"], squared(prediction, target))
    torch.testing.assert_close(parts["regularisation"], l2(params))
    expected = parts["reconstruction"] + weight * parts["regularisation"]
    torch.testing.assert_close(parts["loss"], expected)


def test_changing_the_weight_changes_only_the_total():
    output, target = output_and_target()
    loss = RegularisedLoss(squared, l2, weight=0.0)
    before = loss(output, target)
    loss.weight = 3.0
    after = loss(output, target)
    torch.testing.assert_close(after["reconstruction"], before["reconstruction"])
    torch.testing.assert_close(after["regularisation"], before["regularisation"])
    torch.testing.assert_close(after["loss"], before["loss"] + 3.0 * before["regularisation"])


def test_gradient_of_the_total_is_the_weighted_sum_of_the_parts_gradients():
    (prediction, params), target = output_and_target()
    RegularisedLoss(squared, l2, weight=2.5)((prediction, params), target)["loss"].backward()
    torch.testing.assert_close(prediction.grad, 2 * (prediction - target).detach() / 6)
    torch.testing.assert_close(params.grad, 2.5 * 2 * params.detach() / 6)


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf])
def test_weight_must_be_a_finite_non_negative_number(bad):
    with pytest.raises(ValueError, match="weight"):
        RegularisedLoss(squared, l2, weight=bad)
    loss = RegularisedLoss(squared, l2)
    with pytest.raises(ValueError, match="weight"):
        loss.weight = bad
    assert loss.weight == 1.0


def test_trainer_logs_both_parts_and_annealing_keeps_them_consistent(monkeypatch):
    monkeypatch.delenv("COURSE_FAST_MODE", raising=False)
    torch.manual_seed(0)
    images = torch.rand(64, 1, 28, 28)
    data = BatchLoader(TensorDataset(images, images), batch_size=16)
    model = VariationalAutoEncoder(1, 4, 4, 3, latent_dim=2)
    loss = RegularisedLoss(bernoulli_nll, model.regularisation, weight=0.0)
    trainer = Trainer(model, loss, device="cpu")
    for weight in (0.0, 0.5, 1.0):  # annealing between epochs
        loss.weight = weight
        trainer.fit(data, data, epochs=1)
    valid = trainer.history["valid"]
    assert set(valid) == {"loss", "reconstruction", "regularisation"}
    for epoch, weight in enumerate((0.0, 0.5, 1.0)):
        total = valid["reconstruction"][epoch] + weight * valid["regularisation"][epoch]
        assert valid["loss"][epoch] == pytest.approx(total, rel=1e-5)


def test_bernoulli_nll_is_summed_over_pixels_and_averaged_over_images():
    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(5, 1, 28, 28, generator=g), torch.rand(5, 1, 28, 28, generator=g)
    per_image = F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum((1, 2, 3))
    torch.testing.assert_close(bernoulli_nll(logits, target), per_image.mean())
    torch.testing.assert_close(bernoulli_nll(logits, target), 784 * bernoulli_loss(logits, target))


def test_bernoulli_nll_floor_is_reached_at_the_target_and_never_beaten():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(4, 1, 28, 28, generator=g).clamp(0.01, 0.99)
    floor = bernoulli_nll_floor(target)
    torch.testing.assert_close(bernoulli_nll(torch.logit(target), target), floor)
    for _ in range(5):
        assert bernoulli_nll(torch.randn(4, 1, 28, 28, generator=g), target) > floor
    binary = (target > 0.5).float()
    assert bernoulli_nll_floor(binary).item() == 0.0
    grey = torch.full((2, 1, 28, 28), 0.5)
    torch.testing.assert_close(bernoulli_nll_floor(grey), torch.tensor(784 * math.log(2)))
