import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from course_utils.data import BatchLoader
from course_utils.training import Trainer, TrainingDiverged, default_device


@pytest.fixture(autouse=True)
def full_mode(monkeypatch):
    monkeypatch.delenv("COURSE_FAST_MODE", raising=False)


def regression(n=256, seed=0):
    """y = x @ w + 1 with a known w: a problem a linear model solves exactly."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 1
    return BatchLoader(TensorDataset(x, y), batch_size=32, shuffle=True, seed=seed)


def test_training_reduces_the_loss_and_numbers_epochs_from_one():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    trainer = Trainer(model, nn.MSELoss(), optimiser=torch.optim.SGD(model.parameters(), lr=0.1))
    trainer.fit(regression(), regression(seed=1), epochs=3)
    history = trainer.fit(regression(), regression(seed=1), epochs=2)
    assert history["epoch"] == [1, 2, 3, 4, 5] and trainer.epoch == 5
    assert len(history["train"]["loss"]) == len(history["valid"]["loss"]) == 5
    assert history["train"]["loss"][-1] < 0.1 * history["train"]["loss"][0]
    assert history["valid"]["loss"][-1] < 1e-3
    assert trainer.model.bias.item() == pytest.approx(1.0, abs=0.01)


def test_a_diverged_training_says_so_once_and_a_sound_one_not_at_all():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    sgd = torch.optim.SGD(model.parameters(), lr=10.0)  # far too large: the loss overflows
    with pytest.warns(TrainingDiverged, match="epoch [0-9]+: training has diverged") as caught:
        Trainer(model, nn.MSELoss(), optimiser=sgd).fit(regression(), epochs=4)
    assert len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingDiverged)
        Trainer(nn.Linear(3, 1), nn.MSELoss()).fit(regression(), epochs=2)


def test_every_loss_part_is_recorded_and_only_loss_is_minimised():
    def loss(output, target):
        mse = nn.functional.mse_loss(output, target)
        return {"loss": mse, "mae": (output - target).abs().mean(), "constant": torch.tensor(7.0)}

    history = Trainer(nn.Linear(3, 1), loss).fit(regression(), regression(seed=1), epochs=2)
    for split in ("train", "valid"):
        assert set(history[split]) == {"loss", "mae", "constant"}
        assert history[split]["constant"] == pytest.approx([7.0, 7.0])


def test_epoch_mean_is_weighted_by_batch_size():
    x = torch.zeros(5, 1)
    y = torch.tensor([[0.0], [0.0], [0.0], [0.0], [10.0]])  # last batch holds one item
    model = nn.Linear(1, 1, bias=False)
    trainer = Trainer(model, nn.L1Loss())
    means = trainer.evaluate(BatchLoader(TensorDataset(x, y), batch_size=4))
    assert means["loss"] == pytest.approx(10.0 / 5)


def test_evaluation_does_not_touch_training_state():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    modes = []

    def loss(output, target):
        modes.append(model.training)
        return nn.functional.mse_loss(output, target)

    trainer = Trainer(model, loss)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.evaluate(regression())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # no step, no BatchNorm update
    assert set(modes) == {False} and model.training

    modes.clear()
    trainer.fit(regression(n=64), regression(n=64, seed=1))
    assert modes == [True] * 2 + [False] * 2  # two training batches, then two validation batches


def test_training_statistics_come_from_training_batches_only():
    seen = []

    def loss(output, target):
        value = nn.functional.mse_loss(output, target)
        if torch.is_grad_enabled():
            seen.append((value.item(), len(target)))
        return value

    trainer = Trainer(nn.Linear(3, 1), loss, lr=0.01)
    history = trainer.fit(regression(n=100), regression(n=50, seed=9))
    expected = sum(v * n for v, n in seen) / sum(n for _, n in seen)
    assert history["train"]["loss"][0] == pytest.approx(expected, rel=1e-5)


class CountingLoss:
    """A mean squared error that notes, for each batch, whether it trains (gradients on)."""

    def __init__(self):
        self.calls = []

    def __call__(self, output, target):
        self.calls.append(torch.is_grad_enabled())
        return nn.functional.mse_loss(output, target)


def test_fast_mode_runs_one_epoch_of_two_batches(monkeypatch):
    monkeypatch.setenv("COURSE_FAST_MODE", "1")
    loss = CountingLoss()
    history = Trainer(nn.Linear(3, 1), loss).fit(regression(), regression(seed=1), epochs=10)
    assert history["epoch"] == [1] and loss.calls == [True, True, False, False]


def test_unshortened_fit_trains_every_epoch_in_full_even_in_fast_mode(monkeypatch):
    monkeypatch.setenv("COURSE_FAST_MODE", "1")
    loss = CountingLoss()
    data = regression(n=100)  # 4 batches of at most 32
    history = Trainer(nn.Linear(3, 1), loss).fit(data, regression(seed=1), epochs=3, shorten=False)
    assert history["epoch"] == [1, 2, 3]
    assert loss.calls == ([True] * 4 + [False] * 8) * 3


def test_plain_text_progress_in_logs(capsys):
    Trainer(nn.Linear(3, 1), nn.MSELoss()).fit(regression(), regression(seed=1), epochs=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert "train loss" in lines[0] and "valid loss" in lines[0]


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    trainer = Trainer(nn.Linear(3, 1), nn.MSELoss())
    trainer.fit(regression(), epochs=2)
    path = tmp_path / "model.pt"
    trainer.save(path)

    restored = Trainer(nn.Linear(3, 1), nn.MSELoss()).load(path)
    assert restored.history == trainer.history and restored.epoch == 2
    for a, b in zip(trainer.model.parameters(), restored.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert restored.optimiser.state_dict()["state"][0]["step"] == 16  # Adam's step count survives
    assert restored.fit(regression(), epochs=1)["epoch"] == [1, 2, 3]


def test_checkpoint_never_overwrites_without_asking(tmp_path):
    path = tmp_path / "model.pt"
    path.write_text("the student's own file")
    trainer = Trainer(nn.Linear(3, 1), nn.MSELoss())
    with pytest.raises(FileExistsError, match="overwrite=True"):
        trainer.save(path)
    assert path.read_text() == "the student's own file"
    trainer.save(path, overwrite=True)
    assert Trainer(nn.Linear(3, 1), nn.MSELoss()).load(path).epoch == 0


def test_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    Trainer(nn.Linear(3, 1), nn.MSELoss()).save(tmp_path / "small.pt")
    with pytest.raises(ValueError, match="does not fit this model"):
        Trainer(nn.Linear(5, 1), nn.MSELoss()).load(tmp_path / "small.pt")


def test_default_device_follows_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert default_device().type == expected
    assert Trainer(nn.Linear(3, 1), nn.MSELoss()).device.type == expected


def test_empty_data_is_a_clear_error():
    empty = BatchLoader(TensorDataset(torch.zeros(0, 3), torch.zeros(0, 1)))
    with pytest.raises(ValueError, match="empty"):
        Trainer(nn.Linear(3, 1), nn.MSELoss()).fit(empty)


def test_plain_progress_replaces_the_live_bar(monkeypatch, capsys):
    from course_utils import training

    monkeypatch.setattr(training, "_in_notebook", lambda: True)
    bar = training._progress(10, None, "epoch 1/1")
    assert not bar.disable
    bar.close()
    monkeypatch.setenv(training.PLAIN_PROGRESS_ENV, "1")
    assert training._progress(10, None, "epoch 1/1").disable
    Trainer(nn.Linear(3, 1), nn.MSELoss()).fit(regression(), epochs=1)
    assert "epoch 1/1: train loss" in capsys.readouterr().out


def test_tenths_of_an_epoch_are_recorded_as_batch_weighted_means():
    # 25 items in batches of 2 (the last holds 1); a frozen model, so each batch's loss is known
    x, y = torch.zeros(25, 1), torch.arange(25.0).view(-1, 1)
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    trainer = Trainer(model, nn.L1Loss(), optimiser=torch.optim.SGD(model.parameters(), lr=0.0))
    history = trainer.fit(BatchLoader(TensorDataset(x, y), batch_size=2), epochs=2)
    batches = history["batches"]
    # 13 batches: a point every 13 // 10 = 1 batch, the last one at the end of the epoch
    assert batches["epoch"][:3] == pytest.approx([1 / 13, 2 / 13, 3 / 13])
    assert batches["epoch"][12] == 1.0 and batches["epoch"][-1] == 2.0
    assert batches["loss"][:2] == pytest.approx([0.5, 2.5])  # |0| and |1|, then |2| and |3|
    assert batches["loss"][12] == pytest.approx(24.0)  # the lone last item
    assert history["train"]["loss"] == pytest.approx([12.0, 12.0])  # the mean of 0 … 24
    # the tenths average back to the epoch mean when weighted by their items
    items = torch.tensor([2.0] * 12 + [1.0])
    assert (torch.tensor(batches["loss"][:13]) * items).sum() / 25 == pytest.approx(12.0)


def test_a_scheduler_steps_after_every_training_batch():
    model = nn.Linear(3, 1)
    optimiser = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimiser, step_size=1, gamma=0.5)
    trainer = Trainer(model, nn.MSELoss(), optimiser=optimiser, scheduler=scheduler)
    trainer.fit(regression(n=64), regression(n=64, seed=1), epochs=1)  # 2 training batches
    assert optimiser.param_groups[0]["lr"] == pytest.approx(0.25)
