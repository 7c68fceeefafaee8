"""The shipped checkpoints: they load, fit their architecture, reproduce their recorded test
numbers, meet the course's quality bars, and fail clearly when broken."""

import pytest
import torch
import torch.nn.functional as F

from course_utils import checkpoints
from course_utils.checkpoints import SPECS, CheckpointError, measure, pretrained
from course_utils.data import load_fashion_mnist
from course_utils.models import AutoEncoder, VariationalAutoEncoder


@pytest.fixture(scope="module")
def test_images():
    return load_fashion_mnist("test", limit=10_000).tensors[0]


@pytest.mark.parametrize("name", SPECS)
def test_checkpoint_loads_into_its_architecture(name):
    model, info = pretrained(name)
    fresh = SPECS[name].build()
    assert type(model) is type(fresh) and not model.training
    shapes = {key: value.shape for key, value in fresh.state_dict().items()}
    assert {key: value.shape for key, value in model.state_dict().items()} == shapes
    assert info["made"]["seed"] == 0 and info["made"]["training_images"] == 60_000
    assert info["made"]["epochs"] == SPECS[name].epochs == info["history"]["epoch"][-1]


@pytest.mark.parametrize("name", SPECS)
def test_checkpoint_reproduces_its_recorded_test_numbers(name, test_images):
    model, info = pretrained(name)
    got = measure(model, test_images)
    for key, value in got.items():
        assert value == pytest.approx(info["test"][key], rel=1e-4), key


def pca_errors(sizes):
    """Test MSE of PCA with each number of components: exact principal directions (float64)."""
    train = load_fashion_mnist("train").tensors[0].flatten(1).double()
    test = load_fashion_mnist("test").tensors[0].flatten(1).double()
    centre = train.mean(0)
    _, vectors = torch.linalg.eigh((train - centre).T @ (train - centre))
    components = vectors.flip(1)  # largest variance first
    errors = {}
    for size in sizes:
        basis = components[:, :size]
        rebuilt = ((test - centre) @ basis @ basis.T + centre).clamp(0, 1)
        errors[size] = F.mse_loss(rebuilt, test).item()
    return errors


def test_auto_encoders_beat_pca_at_every_code_size_and_reach_the_bar_at_16():
    sizes = [int(name.split("-")[1]) for name in SPECS if name.startswith("autoencoder-")]
    assert sizes == [2, 4, 8, 16, 32, 64]  # chapter 4's sweep
    pca = pca_errors(sizes)
    for size in sizes:
        _, info = pretrained(f"autoencoder-{size}")
        assert info["test"]["mse"] < pca[size], size
    assert pretrained("autoencoder-16")[1]["test"]["mse"] <= 0.0100


def test_vae_reaches_235_nats_and_the_importance_weighted_bound_is_tighter():
    model, info = pretrained("vae-16")
    assert model.latent_dim <= 16
    test = info["test"]
    assert test["negative_elbo"] <= 235.0
    assert test["iwae_samples"] >= 100
    assert test["reconstruction"] < test["iwae"] < test["negative_elbo"]


def test_a_spec_names_its_activation_and_saves_the_name(tmp_path, monkeypatch):
    config = dict(in_channels=1, hid_channels=(4,), code_channels=None, kernel_size=3)
    spec = checkpoints.Spec(VariationalAutoEncoder, dict(config, latent_dim=2, activation="SiLU"))
    kinds = {type(layer) for layer in spec.build().modules() if not list(layer.children())}
    assert torch.nn.SiLU in kinds and torch.nn.ReLU not in kinds
    assert spec.config["activation"] == "SiLU"  # building does not replace the name
    monkeypatch.setitem(SPECS, "vae-2", spec)
    checkpoints.make("vae-2", folder=tmp_path, limit=64, epochs=1)
    model, info = pretrained("vae-2", folder=tmp_path)
    assert info["config"]["activation"] == "SiLU"
    assert any(isinstance(layer, torch.nn.SiLU) for layer in model.modules())


def test_make_trains_saves_and_records_what_pretrained_reads(tmp_path):
    info = checkpoints.make("autoencoder-2", folder=tmp_path, limit=256, epochs=1)
    model, loaded = pretrained("autoencoder-2", folder=tmp_path)
    assert isinstance(model, AutoEncoder)
    assert loaded["test"] == info["test"] and loaded["made"]["epochs"] == 1
    assert measure(model, load_fashion_mnist("test", limit=256).tensors[0]) == info["test"]
    assert not list(tmp_path.glob("*.partial"))


def test_make_stops_a_diverged_training_and_saves_nothing(tmp_path, monkeypatch):
    def diverging(model):
        return lambda logits, target: checkpoints.bernoulli_nll(logits, target) * torch.nan

    monkeypatch.setattr(checkpoints, "_loss", diverging)
    with pytest.raises(CheckpointError, match="autoencoder-2 was not saved: .*lower its max_lr"):
        checkpoints.make("autoencoder-2", folder=tmp_path, limit=256, epochs=2)
    assert not list(tmp_path.iterdir())


def test_make_records_the_vae_bounds(tmp_path):
    info = checkpoints.make("vae-2", folder=tmp_path, limit=128, epochs=1)
    model, _ = pretrained("vae-2", folder=tmp_path)
    assert isinstance(model, VariationalAutoEncoder)
    assert set(info["test"]) == {"reconstruction", "kl", "negative_elbo", "iwae", "iwae_samples"}
    assert info["test"]["iwae"] < info["test"]["negative_elbo"]


def test_a_missing_checkpoint_says_how_to_make_it(tmp_path):
    with pytest.raises(CheckpointError, match="make checkpoints"):
        pretrained("vae-16", folder=tmp_path)


def test_a_corrupt_checkpoint_is_reported_not_loaded(tmp_path):
    good = checkpoints.path_of("autoencoder-2").read_bytes()
    (tmp_path / "autoencoder-2.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        pretrained("autoencoder-2", folder=tmp_path)


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    (tmp_path / "autoencoder-2.pt").write_bytes(checkpoints.path_of("autoencoder-4").read_bytes())
    with pytest.raises(CheckpointError, match="another architecture"):
        pretrained("autoencoder-2", folder=tmp_path)


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="vae-16"):
        pretrained("vae-17")
