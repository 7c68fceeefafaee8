"""Figures with one look across the course: image grids and loss curves.

Every function returns a matplotlib ``Figure`` that is already closed in pyplot, so it shows
exactly once when it is the last expression of a notebook cell and never leaks in scripts.
"""

import matplotlib.pyplot as plt
import torch

CMAP = "gray"
CELL = 1.1  # inches per image in a grid


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


def compare_images(rows, labels=None, n=8, vmin=0.0, vmax=1.0):
    """Stack batches of images row by row (e.g. inputs above their reconstructions)."""
    rows = [_as_images(row)[:n] for row in rows]
    n = min(len(row) for row in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(CELL * n + 1, CELL * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(row[c], cmap=CMAP, vmin=vmin, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
        if labels is not None:
            axes[r, 0].set_ylabel(labels[r], rotation=0, ha="right", va="center")
    fig.tight_layout()
    return _closed(fig)


def plot_history(history, parts=None, logy=False):
    """Loss curves from a ``Trainer`` history: one panel per loss part, train and validation."""
    parts = parts or list(history["train"])
    fig, axes = plt.subplots(1, len(parts), figsize=(4 * len(parts), 3), squeeze=False)
    for ax, name in zip(axes.flat, parts, strict=True):
        for split, style in (("train", "-o"), ("valid", "--s")):
            values = history[split].get(name)
            if values:
                ax.plot(history["epoch"], values, style, label=split, markersize=4)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _closed(fig)
