"""A convolution and its transpose, animated as grids of numbers (chapter 1).

:func:`convolution_frames` and :func:`transposed_frames` compute what each frame shows, three
:class:`Panel` s side by side; :func:`conv_animation` draws them into two looping GIFs with
:func:`draw_grid`, which the chapter also uses for still figures.
"""

import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from IPython.display import Image
from matplotlib import animation

from .fastmode import is_fast

BLUE, ORANGE, GREY = "#a5d8ff", "#ffd8a8", "#e9ecef"


@dataclass(frozen=True)
class Panel:
    """One grid of a frame: ``highlight`` cells blue, ``fresh`` ones orange, a ``padding`` ring grey."""

    values: torch.Tensor
    title: str = ""
    highlight: frozenset = frozenset()
    fresh: frozenset = frozenset()
    padding: int = 0


def draw_grid(ax, values, highlight=(), padding=0, title="", fmt="{:.0f}", fresh=()):
    """Numbers in a grid: ``highlight`` blue, ``fresh`` orange, the padding grey; NaN left empty."""
    ax.clear()
    rows, cols = values.shape
    for r in range(rows):
        for c in range(cols):
            inside = padding <= r < rows - padding and padding <= c < cols - padding
            colour = ORANGE if (r, c) in fresh else BLUE if (r, c) in highlight else "white"
            colour = GREY if padding and not inside and colour == "white" else colour
            ax.add_patch(plt.Rectangle((c, r), 1, 1, fc=colour, ec="#495057", lw=0.8))
            if values[r, c] == values[r, c]:  # NaN marks an empty cell
                text = fmt.format(values[r, c])
                ax.text(c + 0.5, r + 0.5, text, ha="center", va="center", fontsize=8)
    ax.set_xlim(-0.05, cols + 0.05)
    ax.set_ylim(rows + 0.05, -0.05)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)


def _window(i, j, size, stride) -> frozenset:
    """The cells under a ``size``-wide kernel at output ``(i, j)``."""
    return frozenset((stride * i + a, stride * j + b) for a in range(size) for b in range(size))


def _convolved(image, kernel, stride, padding):
    return F.conv2d(image[None, None], kernel[None, None], None, stride, padding)[0, 0]


def convolution_frames(image, kernel, stride=2, padding=1) -> list[tuple[Panel, Panel, Panel]]:
    """One frame per output: the kernel's window on the padded input, the kernel, the outputs
    computed so far (the current one highlighted)."""
    k, n = kernel.shape[0], image.shape[0]
    padded = F.pad(image, (padding,) * 4)
    y = _convolved(image, kernel, stride, padding)
    out = y.shape[0]
    frames = []
    for t in range(out * out):
        i, j = divmod(t, out)
        so_far = torch.full((out, out), float("nan"))
        so_far.view(-1)[: t + 1] = y.view(-1)[: t + 1]
        source = Panel(
            padded, f"input ({n}×{n}, padded)", _window(i, j, k, stride), padding=padding
        )
        output = Panel(so_far, f"output ({out}×{out})", frozenset({(i, j)}))
        frames.append((source, Panel(kernel, f"kernel ({k}×{k})"), output))
    return frames


def transposed_frames(image, kernel, stride=2, padding=1) -> list[tuple[Panel, Panel, Panel]]:
    """The transposed convolution of the convolution's output: one frame per input value, which
    stamps the kernel scaled by it on a canvas (stamps add up), and a last frame that cuts the
    padding ring off, leaving an output of the image's size."""
    k, n = kernel.shape[0], image.shape[0]
    y = _convolved(image, kernel, stride, padding)
    out = y.shape[0]
    canvas = torch.zeros((out - 1) * stride + k, (out - 1) * stride + k)
    frames, shown = [], Panel(kernel, f"kernel ({k}×{k})")
    for t in range(out * out):
        i, j = divmod(t, out)
        canvas = canvas.clone()
        canvas[stride * i : stride * i + k, stride * j : stride * j + k] += y[i, j] * kernel
        stamped = Panel(
            canvas, "canvas: stamps add up", fresh=_window(i, j, k, stride), padding=padding
        )
        frames.append((Panel(y, f"input ({out}×{out})", frozenset({(i, j)})), shown, stamped))
    cut = Panel(
        canvas[padding : padding + n, padding : padding + n], f"output ({n}×{n}): ring cut off"
    )
    frames.append((Panel(y, f"input ({out}×{out})"), shown, cut))
    return frames


def _gif(frames, width_ratios, dpi) -> Image:
    """The frames drawn side by side, as a looping GIF (in fast mode the first and the last)."""
    frames = [frames[0], frames[-1]] if is_fast() else frames
    fig, axes = plt.subplots(1, 3, figsize=(7.6, 3.0), width_ratios=width_ratios, dpi=dpi)

    def draw(t):
        for ax, panel in zip(axes, frames[t], strict=True):
            draw_grid(
                ax, panel.values, panel.highlight, panel.padding, panel.title, fresh=panel.fresh
            )

    with tempfile.TemporaryDirectory() as folder:  # Pillow writes GIFs to files only
        path = Path(folder) / "animation.gif"
        animation.FuncAnimation(fig, draw, frames=len(frames)).save(
            path, animation.PillowWriter(fps=1.5)
        )
        gif = Image(filename=path)
    plt.close(fig)
    return gif


def conv_animation(image, kernel, stride=2, padding=1, dpi=80) -> tuple[Image, Image]:
    """A convolution of ``image`` by ``kernel`` and the matching transposed convolution, as two GIFs."""
    return (
        _gif(convolution_frames(image, kernel, stride, padding), (7, 3, 3), dpi),
        _gif(transposed_frames(image, kernel, stride, padding), (3, 3, 7), dpi),
    )
