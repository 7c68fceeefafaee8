"""Figures with one look across the course: image grids and loss curves.

Every function returns a matplotlib ``Figure`` that is already closed in pyplot, so it shows
exactly once when it is the last expression of a notebook cell and never leaks in scripts.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Ellipse
from matplotlib.ticker import MaxNLocator

CMAP = "gray"
CELL = 1.1  # inches per image in a grid

#: Pairs of test images, by index (sneaker → ankle boot, pullover → T-shirt, trouser → dress,
#: coat → sandal): chapters 4 and 5 interpolate the same ones, so the two models can be compared.
INTERPOLATION_PAIRS = ((9, 0), (16, 19), (5, 13), (6, 8))


def _closed(fig):
    plt.close(fig)
    return fig


def _as_images(images):
    """N×C×H×W or N×H×W tensor (any device, with or without grad) as a list of H×W(×C) arrays."""
    images = torch.as_tensor(images).detach().cpu().float()
    if images.dim() == 4:
        images = images.permute(0, 2, 3, 1)
        if images.shape[-1] == 1:
            images = images[..., 0]
    if images.dim() not in (3, 4):
        shape = tuple(images.shape)
        raise ValueError(f"expected a batch of images N×C×H×W or N×H×W, got shape {shape}")
    return list(images.numpy())


def image_grid(images, ncols=8, titles=None, title=None, vmin=0.0, vmax=1.0):
    """Show a batch of images in a grid, optionally with a title over each image."""
    images = _as_images(images)
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(CELL * ncols, CELL * nrows + 0.3 * bool(title)), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(images[i], cmap=CMAP, vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _closed(fig)


def compare_images(rows, labels=None, n=8, vmin=0.0, vmax=1.0, titles=None, title=None):
    """Stack batches of images row by row (e.g. inputs above their reconstructions).

    ``labels`` name the rows, ``titles`` the columns (e.g. each image's class). Each row is one
    strip of images with white gaps (:func:`strip`), drawn in one axes: a figure of many rows
    takes a fraction of the time that one axes per image would.
    """
    rows = [_as_images(row)[:n] for row in rows]
    n = min(len(row) for row in rows)
    fig, axes = plt.subplots(len(rows), 1, figsize=(CELL * n + 1, CELL * len(rows)), squeeze=False)
    for r, (ax, row) in enumerate(zip(axes[:, 0], rows, strict=True)):
        pixels, centres = strip(row[:n])
        ax.imshow(pixels, cmap=CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_frame_on(False)
        if r == 0 and titles is not None:
            ax.set_xticks(centres, [str(t) for t in titles[:n]], fontsize=8)
            ax.tick_params(length=0, top=True, labeltop=True, bottom=False, labelbottom=False)
        if labels is not None:
            ax.set_ylabel(labels[r], rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _closed(fig)


def strip(images, gap=None):
    """Images (H×W or H×W×C arrays of one size) side by side, ``gap`` pixels apart (default: a
    fourteenth of the width), and the column of each image's centre.

    Between them: NaN in grey images (drawn as the background), white in colour ones.
    """
    height, width = images[0].shape[:2]
    gap = max(1, width // 14) if gap is None else gap
    fill = np.nan if images[0].ndim == 2 else 1.0
    pixels = np.full((height, len(images) * (width + gap) - gap, *images[0].shape[2:]), fill)
    for i, image in enumerate(images):
        pixels[:, i * (width + gap) : i * (width + gap) + width] = image
    return pixels, [i * (width + gap) + (width - 1) / 2 for i in range(len(images))]


def interpolate(encode, decode, images, pairs=INTERPOLATION_PAIRS, steps=9):
    """One row per pair ``(a, b)``: ``decode`` of ``steps`` codes on the line from code a to code b.

    ``encode`` maps images to codes (one row each), ``decode`` codes to images; both run without
    gradients. The first and last image of a row decode the two images' own codes.
    """
    if steps < 2:
        raise ValueError(f"steps must be at least 2, the two ends, not {steps}")
    with torch.no_grad():
        codes = encode(images)
        t = torch.linspace(0, 1, steps, device=codes.device).unsqueeze(1)
        return [decode((1 - t) * codes[a] + t * codes[b]) for a, b in pairs]


def plot_history(history, parts=None, logy=False, ylabel=None):
    """Loss curves from a ``Trainer`` history: one panel per loss part, train and validation.

    The training loss is drawn per tenth of an epoch (a thin line) and as each epoch's mean,
    placed in the middle of the epoch it averages; validation at the end of each epoch.
    ``ylabel`` names the loss's unit on every panel's y-axis (default: the part's name).
    """
    parts = parts or list(history["train"])
    fig, axes = plt.subplots(1, len(parts), figsize=(4 * len(parts), 3), squeeze=False)
    batches = history.get("batches", {})
    for ax, name in zip(axes.flat, parts, strict=True):
        if batches.get(name):
            ax.plot(
                batches["epoch"],
                batches[name],
                "-",
                color="tab:blue",
                alpha=0.4,
                lw=1,
                label="train, per tenth of an epoch",
            )
        if history["train"].get(name):
            middle = [epoch - 0.5 for epoch in history["epoch"]]
            ax.plot(
                middle,
                history["train"][name],
                "o",
                color="tab:blue",
                markersize=5,
                label="train, epoch mean",
            )
        if history["valid"].get(name):
            ax.plot(
                history["epoch"],
                history["valid"][name],
                "--s",
                color="tab:orange",
                markersize=4,
                label="valid, end of epoch",
            )
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_xlim(left=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel or name)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _closed(fig)


def mosaic(images, ncols, extent=None, xlabel=None, ylabel=None, title=None, size=6.0):
    """Tile a batch of images edge to edge, row by row, into one picture ``size`` inches wide.

    ``extent`` = (left, right, bottom, top) puts coordinates on the axes, e.g. the latent values
    that the images were decoded from (first image top left); without it the axes are hidden.
    """
    tiles = _as_images(images)
    nrows = -(-len(tiles) // ncols)
    height, width = tiles[0].shape[:2]
    canvas = np.zeros((nrows * height, ncols * width) + tiles[0].shape[2:], dtype=np.float32)
    for i, tile in enumerate(tiles):
        row, col = divmod(i, ncols)
        canvas[row * height : (row + 1) * height, col * width : (col + 1) * width] = tile
    fig, ax = plt.subplots(figsize=(size, size * nrows * height / (ncols * width)))
    ax.imshow(canvas, cmap=CMAP, vmin=0.0, vmax=1.0, extent=extent)
    if extent is None:
        ax.set_axis_off()
    ax.set_xlabel(xlabel or "")
    ax.set_ylabel(ylabel or "")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _closed(fig)


def scatter_codes(
    codes, labels, names=None, title=None, xlabel="$z_1$", ylabel="$z_2$", posteriors=None
):
    """Two-dimensional codes as points coloured by class, e.g. a VAE's latent means of test images.

    ``posteriors`` = ``(means, stds)``, two K×2 tensors, draws each as an ellipse of mean ± 2 std.
    """
    codes, labels = torch.as_tensor(codes).detach().cpu(), torch.as_tensor(labels).cpu()
    if codes.dim() != 2 or codes.shape[1] != 2:
        raise ValueError(f"expected N×2 codes, got shape {tuple(codes.shape)}")
    if posteriors is not None:
        means, stds = (torch.as_tensor(t).detach().cpu() for t in posteriors)
        if means.shape != stds.shape or means.dim() != 2 or means.shape[1] != 2:
            raise ValueError(
                f"posteriors should be (means, stds), two K×2 tensors, not shapes "
                f"{tuple(means.shape)} and {tuple(stds.shape)}"
            )
    fig, ax = plt.subplots(figsize=(6, 5))
    cmap = plt.get_cmap("tab10")
    for k in labels.unique().tolist():
        points = codes[labels == k]
        name = names[k] if names is not None else str(k)
        ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.6, color=cmap(k % 10), label=name)
    if posteriors is not None:
        for i, (mean, std) in enumerate(zip(means.tolist(), stds.tolist(), strict=True)):
            ellipse = Ellipse(mean, 4 * std[0], 4 * std[1], fill=False, color="black", lw=1.2)
            ax.add_patch(ellipse)
            ax.plot(*mean, "k+", label="posterior: mean ± 2 std" if i == 0 else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(markerscale=4, fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _closed(fig)


def rate_distortion(rates, distortions, labels=None, lines=None, title=None):
    """Reconstruction loss (distortion) against KL (rate) per model, e.g. one per weight.

    ``labels`` annotate the points, alternately above and below them in order of rate;
    ``lines`` ({name: value}) draws horizontal reference levels, such as the mean image's loss.
    The rate axis is logarithmic above 1 and linear below.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.plot(rates, distortions, "o-", color="C0")
    ax.margins(y=0.1)  # room for the labels above the highest point
    points = sorted(zip(rates, distortions, labels or [], strict=False), key=lambda p: p[0])
    for i, (rate, distortion, label) in enumerate(points):  # alternate sides: no overlaps
        ax.annotate(str(label), (rate, distortion), textcoords="offset points",
                    xytext=(0, 8) if i % 2 == 0 else (0, -16), ha="left" if i == 0 else "center")  # fmt: skip
    for i, (name, value) in enumerate((lines or {}).items()):
        ax.axhline(value, color=f"C{i + 1}", linestyle="--", label=name)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(left=0, right=max(1.0, 3 * max(rates, default=1.0)))  # room for the last label
    ax.set_xlabel("rate: KL divergence (nats per image)")
    ax.set_ylabel("distortion: reconstruction (nats per image)")
    if lines:
        ax.legend()
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _closed(fig)


def crop_centred(images, size):
    """Each image's ``size``×``size`` square around the centre of its absolute values, inside it."""
    images = torch.as_tensor(images)
    if images.dim() != 4:
        raise ValueError(f"expected a batch of images N×C×H×W, got shape {tuple(images.shape)}")
    height, width = images.shape[-2:]
    if not 1 <= size <= min(height, width):
        raise ValueError(f"size must be between 1 and {min(height, width)}, not {size}")
    rows, cols = torch.arange(height).float(), torch.arange(width).float()
    crops = []
    for image in images:
        weight = image.detach().abs().sum(dim=0).float()
        total = weight.sum().clamp(min=1e-12)  # an empty image: the top-left square
        row = round(float((weight.sum(dim=1) * rows).sum() / total))
        col = round(float((weight.sum(dim=0) * cols).sum() / total))
        top = min(max(row - size // 2, 0), height - size)
        left = min(max(col - size // 2, 0), width - size)
        crops.append(image[:, top : top + size, left : left + size])
    return torch.stack(crops)
