"""The library on a GPU: the same results as on the CPU, and training that stays on the device.

The course never needs a GPU, but Colab gives students one, and ``Trainer`` picks CUDA when it is
there. These tests run only where CUDA is available (skipped elsewhere, e.g. in CI).
"""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from course_utils.layers import UndoableConv2d, UndoableMaxPool2d, UndoableReLU
from course_utils.losses import RegularisedLoss, bernoulli_nll
from course_utils.models import AutoEncoder, VariationalAutoEncoder
from course_utils.training import Trainer, default_device

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA = torch.device("cuda")


def test_trainer_picks_the_gpu():
    assert default_device().type == "cuda"


@pytest.mark.parametrize(
    "layer",
    [UndoableConv2d(2, 3, 3, stride=2, padding=1), UndoableMaxPool2d(2), UndoableReLU()],
    ids=["conv", "pool", "relu"],
)
def test_undo_gives_the_same_values_on_the_gpu(layer):
    torch.manual_seed(0)
    x = torch.randn(4, 2, 9, 9, dtype=torch.double)
    layer = layer.double()
    y, context = layer(x)
    signal = torch.randn_like(y)
    on_cpu = layer.undo(signal, context)
    gpu_layer = layer.to(CUDA)
    _, context_gpu = gpu_layer(x.to(CUDA))
    on_gpu = gpu_layer.undo(signal.to(CUDA), context_gpu)
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu)


def batches(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, 28, 28, generator=g)
    return DataLoader(TensorDataset(images, images), batch_size=64)


def test_auto_encoder_trains_on_the_gpu():
    torch.manual_seed(0)
    model = AutoEncoder(1, [8, 16], 4, 3, assumption="bernoulli")
    trainer = Trainer(model, torch.nn.BCEWithLogitsLoss())
    assert next(trainer.model.parameters()).device.type == "cuda"
    history = trainer.fit(batches(), batches(64, seed=1), epochs=3)
    losses = history["train"]["loss"]
    assert losses[-1] < losses[0], f"the training loss did not fall on the GPU: {losses}"


def test_vae_trains_on_the_gpu_and_generates_there():
    torch.manual_seed(0)
    vae = VariationalAutoEncoder(1, [8, 16], 4, 3, latent_dim=4)
    loss = RegularisedLoss(bernoulli_nll, vae.regularisation, weight=1.0)
    trainer = Trainer(vae, loss)
    history = trainer.fit(batches(), batches(64, seed=1), epochs=3)
    assert set(history["train"]) == {"loss", "reconstruction", "regularisation"}
    assert history["train"]["loss"][-1] < history["train"]["loss"][0]
    images = vae.generate(torch.randn(5, 4))
    assert images.device.type == "cuda" and images.shape == (5, 1, 28, 28)
    assert 0 <= images.min() and images.max() <= 1
