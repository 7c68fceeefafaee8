import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from PIL import Image as PILImage

from course_utils.animation import (
    BLUE,
    GREY,
    ORANGE,
    conv_animation,
    convolution_frames,
    draw_grid,
    transposed_frames,
)
from course_utils.fastmode import ENV_VAR

KERNEL = torch.tensor([[1.0, 2.0, 3.0], [1.0, -1.0, 2.0], [-1.0, 1.0, 1.0]])
IMAGE = torch.arange(25.0).view(5, 5) % 7  # not symmetric: rows and columns differ
SETTINGS = [(2, 1), (1, 0), (3, 2)]  # stride, padding: the strides tile the padded image


@pytest.mark.parametrize("stride, padding", SETTINGS)
def test_each_convolution_frame_adds_the_output_under_its_window(stride, padding):
    frames = convolution_frames(IMAGE, KERNEL, stride, padding)
    padded = F.pad(IMAGE, (padding,) * 4)
    out = (5 + 2 * padding - 3) // stride + 1
    assert len(frames) == out * out
    for t, (source, kernel, output) in enumerate(frames):
        assert torch.equal(source.values, padded) and torch.equal(kernel.values, KERNEL)
        [(i, j)] = output.highlight
        assert divmod(t, out) == (i, j)
        rows = sorted({r for r, _ in source.highlight})
        cols = sorted({c for _, c in source.highlight})
        window = padded[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        assert len(source.highlight) == 9 and output.values[i, j] == (window * KERNEL).sum()
        shown = ~output.values.isnan().flatten()
        assert shown.tolist() == [u <= t for u in range(out * out)]  # the outputs so far


@pytest.mark.parametrize("stride, padding", SETTINGS)
def test_transposed_frames_stamp_the_kernel_and_end_on_conv_transpose2d(stride, padding):
    frames = transposed_frames(IMAGE, KERNEL, stride, padding)
    y = F.conv2d(IMAGE[None, None], KERNEL[None, None], None, stride, padding)[0, 0]
    assert len(frames) == y.numel() + 1
    before = torch.zeros_like(frames[0][2].values)
    for (source, _, canvas), value in zip(frames[:-1], y.flatten(), strict=True):
        [(i, j)] = source.highlight
        stamp = torch.zeros_like(before)
        stamp[stride * i : stride * i + 3, stride * j : stride * j + 3] = value * KERNEL
        assert torch.allclose(canvas.values - before, stamp)
        assert canvas.fresh == {(r, c) for r in range(stride * i, stride * i + 3) for c in range(stride * j, stride * j + 3)}  # fmt: skip
        before = canvas.values
    expected = F.conv_transpose2d(y[None, None], KERNEL[None, None], None, stride, padding)[0, 0]
    last = frames[-1][2].values
    assert last.shape == IMAGE.shape and torch.allclose(last, expected)


def test_draw_grid_writes_each_number_and_colours_the_cells():
    fig, ax = plt.subplots()
    values = torch.tensor([[1.0, float("nan"), 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    draw_grid(ax, values, highlight={(1, 1)}, padding=1, title="grid", fresh={(2, 2)})
    texts = {(t.get_position(), t.get_text()) for t in ax.texts}
    assert ((0.5, 0.5), "1") in texts and ((2.5, 2.5), "9") in texts and len(texts) == 8
    colours = {patch.get_xy(): patch.get_facecolor() for patch in ax.patches}
    rgba = plt.matplotlib.colors.to_rgba
    assert colours[(1, 1)] == rgba(BLUE) and colours[(2, 2)] == rgba(ORANGE)
    assert colours[(0, 0)] == rgba(GREY) and ax.get_title() == "grid"
    plt.close(fig)


@pytest.mark.parametrize("fast, counts", [("0", (9, 10)), ("1", (2, 2))])
def test_conv_animation_makes_two_gifs_with_one_frame_per_step(tmp_path, monkeypatch, fast, counts):
    """One frame per step; in fast mode (grading, tests) only the first and the last."""
    monkeypatch.setenv(ENV_VAR, fast)
    gifs = conv_animation(IMAGE, KERNEL, dpi=20)
    for gif, frames in zip(gifs, counts, strict=True):
        path = tmp_path / "a.gif"
        path.write_bytes(gif.data)
        assert PILImage.open(path).n_frames == frames
