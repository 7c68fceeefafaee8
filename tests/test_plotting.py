import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_utils.plotting import compare_images, image_grid, plot_history


def shown(ax):
    return ax.get_images()[0].get_array()


def test_image_grid_shows_each_image_in_order():
    images = torch.rand(10, 1, 28, 28)
    fig = image_grid(images, ncols=4, titles=list("abcdefghij"))
    assert isinstance(fig, Figure) and len(fig.axes) == 12  # 3 rows of 4, two left empty
    assert np.allclose(shown(fig.axes[5]), images[5, 0].numpy())
    assert fig.axes[5].get_title() == "f" and not fig.axes[11].get_images()


def test_compare_images_puts_each_batch_on_its_own_row():
    inputs, outputs = torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28, requires_grad=True)
    fig = compare_images([inputs, outputs], labels=["input", "output"], n=5)
    assert len(fig.axes) == 2
    gap = 2  # a fourteenth of 28 pixels
    for ax, batch in zip(fig.axes, [inputs, outputs], strict=True):
        row = np.asarray(shown(ax))
        assert row.shape == (28, 5 * 28 + 4 * gap)
        for c in range(5):
            start = c * (28 + gap)
            assert np.allclose(row[:, start : start + 28], batch[c, 0].detach().numpy())
            assert c == 4 or np.isnan(row[:, start + 28 : start + 28 + gap]).all()
    assert [ax.get_ylabel() for ax in fig.axes] == ["input", "output"]
    titled = compare_images([inputs], titles=list("abcde"), title="what is shown", n=5)
    [ax] = titled.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abcde")
    assert np.allclose(ax.get_xticks(), [13.5 + c * 30 for c in range(5)])  # each image's centre
    assert titled._suptitle.get_text() == "what is shown"


def test_compare_images_keeps_colour_and_fills_the_gaps_white():
    rgb = torch.rand(3, 3, 14, 14)
    [ax] = compare_images([rgb], n=3).axes
    row = np.asarray(shown(ax))
    assert row.shape == (14, 3 * 14 + 2, 3)
    assert np.allclose(row[:, 15:29], rgb[1].permute(1, 2, 0).numpy())
    assert (row[:, 14] == 1.0).all()


def test_plot_history_draws_train_and_valid_for_every_part():
    history = {
        "epoch": [1, 2, 3],
        "train": {"loss": [3.0, 2.0, 1.0], "kl": [0.1, 0.2, 0.3]},
        "valid": {"loss": [3.5, 2.5, 1.5], "kl": [0.1, 0.2, 0.3]},
    }
    fig = plot_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "kl"]
    train, valid = fig.axes[0].get_lines()
    assert list(train.get_ydata()) == [3.0, 2.0, 1.0] and list(valid.get_xdata()) == [1, 2, 3]
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "kl"]
    assert all(float(t).is_integer() for t in fig.axes[0].get_xticks())  # whole epochs
    fig = plot_history(history, ylabel="nats per image")
    assert all(ax.get_ylabel() == "nats per image" for ax in fig.axes)


def test_wrong_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="N×C×H×W"):
        image_grid(torch.rand(28, 28))


def test_mosaic_tiles_images_row_by_row_on_the_given_extent():
    from course_utils.plotting import mosaic

    images = torch.rand(6, 1, 4, 5)
    fig = mosaic(images, ncols=3, extent=(-2, 2, -1, 1), xlabel="$z_1$")
    canvas = shown(fig.axes[0])
    assert canvas.shape == (8, 15)
    assert np.allclose(canvas[4:8, 5:10], images[4, 0].numpy())  # second row, second column
    assert fig.axes[0].get_images()[0].get_extent() == [-2, 2, -1, 1]
    assert fig.axes[0].get_xlabel() == "$z_1$"


def test_scatter_codes_draws_one_coloured_set_per_class():
    from course_utils.plotting import scatter_codes

    codes, labels = torch.randn(30, 2), torch.arange(30) % 3
    fig = scatter_codes(codes, labels, names=["a", "b", "c"])
    collections = fig.axes[0].collections
    assert len(collections) == 3
    assert np.allclose(collections[1].get_offsets(), codes[labels == 1].numpy())
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b", "c"]
    assert fig.axes[0].get_xlabel() == "$z_1$"
    fig = scatter_codes(codes, labels, xlabel="first direction", ylabel="second direction")
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == (
        "first direction",
        "second direction",
    )
    with pytest.raises(ValueError, match="N×2"):
        scatter_codes(torch.randn(5, 3), labels[:5])


def test_rate_distortion_plots_points_labels_and_reference_lines():
    from course_utils.plotting import rate_distortion

    fig = rate_distortion([0.1, 5.0, 50.0], [380.0, 260.0, 240.0], labels=["a", "b", "c"],
                          lines={"mean image": 385.0})  # fmt: skip
    ax = fig.axes[0]
    curve, level = ax.get_lines()
    assert list(curve.get_xdata()) == [0.1, 5.0, 50.0]
    assert list(curve.get_ydata()) == [380.0, 260.0, 240.0]
    assert list(level.get_ydata()) == [385.0, 385.0]
    assert [t.get_text() for t in ax.texts] == ["a", "b", "c"]
    assert [t.xyann for t in ax.texts] == [(0, 8), (0, -16), (0, 8)]  # alternate sides
    assert ax.get_xscale() == "symlog"


def test_crop_centred_centres_the_absolute_values_and_stays_inside():
    from course_utils.plotting import crop_centred

    images = torch.zeros(3, 1, 28, 28)
    images[0, 0, 9:12, 19:22] = -1.0  # a 3×3 stamp, negative: centred at (10, 20)
    images[0, 0, 10, 20] = 2.0
    images[1, 0, 0, 27] = 2.0  # top-right corner: the crop is pushed inside the image
    images[2] = torch.randn(1, 28, 28)
    crops = crop_centred(images, 9)
    assert crops.shape == (3, 1, 9, 9)
    assert torch.equal(crops[0], images[0, :, 6:15, 16:25]) and crops[0, 0, 4, 4] == 2.0
    assert torch.equal(crops[1], images[1, :, 0:9, 19:28])
    weight = images[2, 0].abs().numpy()
    row = round(np.average(np.arange(28), weights=weight.sum(axis=1)))
    col = round(np.average(np.arange(28), weights=weight.sum(axis=0)))
    top, left = min(max(row - 4, 0), 19), min(max(col - 4, 0), 19)
    assert torch.equal(crops[2], images[2, :, top : top + 9, left : left + 9])
    with pytest.raises(ValueError, match="between 1 and 28"):
        crop_centred(images, 29)
    with pytest.raises(ValueError, match="N×C×H×W"):
        crop_centred(images[0], 9)


def test_scatter_codes_draws_posteriors_as_two_std_ellipses():
    from course_utils.plotting import scatter_codes

    codes, labels = torch.randn(20, 2), torch.arange(20) % 3
    means, stds = torch.tensor([[0.5, -1.0], [2.0, 1.0]]), torch.tensor([[0.1, 0.3], [0.2, 0.05]])
    ax = scatter_codes(codes, labels, posteriors=(means, stds)).axes[0]
    ellipses = ax.patches
    assert [tuple(e.center) for e in ellipses] == [(0.5, -1.0), (2.0, 1.0)]
    assert [d for e in ellipses for d in (e.width, e.height)] == pytest.approx([0.4, 1.2, 0.8, 0.2])
    with pytest.raises(ValueError, match="K×2"):
        scatter_codes(codes, labels, posteriors=(means, stds[:1]))


def test_interpolate_decodes_straight_lines_between_the_pairs_codes():
    from course_utils.plotting import INTERPOLATION_PAIRS, interpolate

    images = torch.arange(20 * 2, dtype=torch.float32).view(20, 2)
    rows = interpolate(lambda x: 2 * x, lambda z: z - 1, images, pairs=((0, 3), (5, 1)), steps=5)
    assert len(rows) == 2 and rows[0].shape == (5, 2)
    assert torch.allclose(rows[0][0], 2 * images[0] - 1) and torch.allclose(
        rows[0][-1], 2 * images[3] - 1
    )
    assert torch.allclose(rows[1][2], (images[5] + images[1]) - 1)  # the midpoint of the codes
    assert all(max(pair) < 10_000 for pair in INTERPOLATION_PAIRS)
    with pytest.raises(ValueError, match="steps"):
        interpolate(lambda x: x, lambda z: z, images, steps=1)
