"""Undoable layers: each maps its output back to its input space, as Zeiler and Fergus's deconvnet.

``forward(x)`` returns ``(output, context)``; ``undo(y, context)`` maps a tensor shaped like the
output back to the input's shape, using what the context recorded during the forward pass:

- a convolution is undone by its transpose (the same weights, no bias), which is what its
  backward pass computes;
- max-pooling is undone by putting each value back where the maximum came from (the *switches*);
- ReLU is undone by the deconvnet rule, ReLU of the signal coming back; ``rule="backprop"`` and
  ``rule="guided"`` give the gradient and guided backpropagation instead.

``UndoableSequential`` chains them: its ``forward`` returns plain outputs (so it trains like any
module), ``activations`` keeps the contexts, and ``visualise_activations`` projects the strongest
activations of a layer back to pixel space. ``undoable`` converts a plain PyTorch layer into its
undoable twin, e.g. to project a pretrained network's activations.
"""

import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

RULES = ("deconvnet", "backprop", "guided")


@dataclass(frozen=True, eq=False)
class Context:
    """What a forward pass recorded for its ``undo``: the layer, the input's shape, the switches."""

    layer: nn.Module
    input_shape: torch.Size
    switches: torch.Tensor | None = None  # max-pool: argmax indices; ReLU: where the input was > 0


def _check_batch(x, channels, what):
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{what} must be a batch N×C×H×W, got {shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{what} has {x.shape[1]} channels, but this layer expects {channels}")


def _check_context(layer, context):
    if not isinstance(context, Context):
        raise ValueError(
            f"undo needs the context returned by this layer's forward, got {type(context).__name__}"
        )
    if context.layer is not layer:
        raise ValueError(
            f"this context was made by another layer ({context.layer!r}), not by {layer!r}"
        )


def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """Length of a convolution's output along one axis (padding: the total of both sides / 2)."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def transposed_output_size(size, kernel_size, stride=1, padding=0, dilation=1, output_padding=0):
    """Length of a transposed convolution's output along one axis."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + 1 + output_padding


class UndoableConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose ``undo`` is the transposed convolution with the layer's own weights."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.padding_mode != "zeros":
            raise ValueError(
                f"padding_mode={self.padding_mode!r} cannot be undone by a transposed "
                "convolution; use padding_mode='zeros'"
            )

    def _pads(self):
        """(before, after) zero padding of each spatial axis, as the forward pass applies it."""
        if self.padding == "valid":
            return [(0, 0), (0, 0)]
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size, strict=True)]
            return [(t // 2, t - t // 2) for t in totals]
        return [(p, p) for p in self.padding]

    def forward(self, x):
        _check_batch(x, self.in_channels, "the input")
        return super().forward(x), Context(self, x.shape)

    def undo(self, y, context):
        """The transposed convolution of ``y``, with ``output_padding`` to restore the input size."""
        _check_context(self, context)
        _check_batch(y, self.out_channels, "the signal to undo")
        size, pads = context.input_shape[-2:], self._pads()
        geometry = zip(size, self.kernel_size, self.stride, pads, self.dilation, strict=True)
        expected = tuple((n + sum(p) - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in geometry)
        if tuple(y.shape[-2:]) != expected:
            raise ValueError(
                f"the signal to undo is {tuple(y.shape[-2:])}, but this layer's output for an "
                f"input of {tuple(size)} is {expected}"
            )
        symmetric = all(before == after for before, after in pads)
        padding = [before if symmetric else 0 for before, _ in pads]
        # output_padding: the rows/columns the forward pass's floor division dropped
        extra = [
            n + (0 if symmetric else sum(p)) - transposed_output_size(m, k, s, q, d)
            for n, m, k, s, p, q, d in zip(
                size, y.shape[-2:], self.kernel_size, self.stride, pads, padding, self.dilation,
                strict=True,
            )
        ]  # fmt: skip
        x = F.conv_transpose2d(
            y, self.weight, None, self.stride, padding, extra, self.groups, self.dilation
        )
        if not symmetric:  # 'same' with an odd total padding: crop what the forward pass padded
            (top, _), (left, _) = pads
            x = x[..., top : top + size[0], left : left + size[1]]
        return x


class UndoableMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` that records its switches; ``undo`` puts values back where the maxima were.

    When pooling windows overlap, one input can be the maximum of several windows: its values are
    summed, so ``undo`` is the transpose of pooling's selection, the same as its backward pass.
    """

    def __init__(self, *args, **kwargs):
        if kwargs.get("return_indices"):
            raise ValueError("UndoableMaxPool2d records the indices itself; drop return_indices")
        super().__init__(*args, **kwargs)

    def forward(self, x):
        _check_batch(x, None, "the input")
        output, switches = F.max_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.dilation,
            ceil_mode=self.ceil_mode, return_indices=True,
        )  # fmt: skip
        return output, Context(self, x.shape, switches)

    def undo(self, y, context):
        """Zeros shaped like the input, with ``y``'s values at the recorded switches."""
        _check_context(self, context)
        if y.shape != context.switches.shape:
            raise ValueError(
                f"the signal to undo is {tuple(y.shape)}, but this layer's output was "
                f"{tuple(context.switches.shape)}"
            )
        n, c, h, w = context.input_shape
        x = y.new_zeros(n, c, h * w)
        return x.scatter_add_(2, context.switches.flatten(2), y.flatten(2)).view(n, c, h, w)


class UndoableReLU(nn.ReLU):
    """``nn.ReLU`` whose ``undo`` follows a rule for the signal coming back.

    ``"deconvnet"`` (Zeiler and Fergus): ReLU of the signal, whatever the forward pass saw;
    ``"backprop"``: the gradient, the signal where the input was positive;
    ``"guided"`` (guided backpropagation): both, positive signal where the input was positive.
    """

    def forward(self, x):
        _check_batch(x, None, "the input")
        return super().forward(x), Context(self, x.shape, x > 0)

    def undo(self, y, context, rule="deconvnet"):
        """Undo by ``rule``: "deconvnet", "backprop" or "guided"."""
        _check_context(self, context)
        if y.shape != context.input_shape:
            raise ValueError(
                f"the signal to undo is {tuple(y.shape)}, but the input was "
                f"{tuple(context.input_shape)}"
            )
        if rule == "deconvnet":
            return F.relu(y)
        if rule == "backprop":
            return y * context.switches
        if rule == "guided":
            return F.relu(y) * context.switches
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}")


def undoable(layer: nn.Module) -> nn.Module:
    """The undoable twin of a plain ``nn.Conv2d``, ``nn.MaxPool2d`` or ``nn.ReLU``: the same outputs,
    a convolution's weights and bias copied. Converts a pretrained network's layers, e.g.
    ``UndoableSequential(*map(undoable, vgg.features))``."""
    if isinstance(layer, nn.Conv2d):
        twin = UndoableConv2d(
            layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
            layer.dilation, layer.groups, layer.bias is not None, layer.padding_mode,
        )  # fmt: skip
        twin.load_state_dict(layer.state_dict())
        return twin.to(layer.weight.device, layer.weight.dtype)
    if isinstance(layer, nn.MaxPool2d):
        if layer.return_indices:
            raise ValueError("undoable cannot convert a max-pooling that returns its indices")
        geometry = layer.kernel_size, layer.stride, layer.padding, layer.dilation
        return UndoableMaxPool2d(*geometry, ceil_mode=layer.ceil_mode)
    if isinstance(layer, nn.ReLU):
        return UndoableReLU()
    raise ValueError(
        f"undoable has no twin for {type(layer).__name__}: it converts nn.Conv2d, nn.MaxPool2d "
        "and nn.ReLU; write an undo for any other layer"
    )


def keep_top_k(activations, k=1, channel=None):
    """Zeros except each sample's ``k`` largest activations (only in ``channel``, if given)."""
    if channel is not None:
        if not 0 <= channel < activations.shape[1]:
            raise ValueError(f"channel must be in 0..{activations.shape[1] - 1}, not {channel}")
        kept = torch.zeros_like(activations)
        kept[:, channel : channel + 1] = keep_top_k(activations[:, channel : channel + 1], k)
        return kept
    flat = activations.flatten(1)
    if not 1 <= k <= flat.shape[1]:
        raise ValueError(f"k must be between 1 and {flat.shape[1]} (values per sample), not {k}")
    top = flat.topk(k, dim=1)
    return torch.zeros_like(flat).scatter_(1, top.indices, top.values).view_as(activations)


class UndoableSequential(nn.Sequential):
    """A stack of undoable layers that can project any layer's activations back to the input.

    ``forward`` returns plain outputs, so the stack trains like any module (e.g. as the features
    of a classifier); ``activations`` and ``undo`` keep and use the contexts.
    """

    def __init__(self, *layers):
        super().__init__(*layers)
        for i, layer in enumerate(self):
            if not callable(getattr(layer, "undo", None)):
                raise ValueError(f"layer {i} ({layer!r}) has no undo method")

    def forward(self, x):
        for layer in self:
            x, _ = layer(x)
        return x

    def layer_index(self, layer=None) -> int:
        """``layer`` as an index from 0; ``None`` is the last layer, negatives count from the end."""
        n = len(self)
        if layer is None:
            return n - 1
        try:
            index = operator.index(layer)  # ints, NumPy and 0-d integer tensors; not 1.5 or "conv"
        except TypeError:
            index = None
        if index is None or isinstance(layer, bool) or not -n <= index < n:
            raise ValueError(
                f"layer must be an index from {-n} to {n - 1} (or None), not {layer!r}"
            )
        return index % n

    def activations(self, x, layer=None):
        """The output of ``layer`` (default: the last) and the contexts of every layer up to it."""
        contexts = []
        for module in list(self)[: self.layer_index(layer) + 1]:
            x, context = module(x)
            contexts.append(context)
        return x, contexts

    def undo(self, y, contexts, rule="deconvnet"):
        """Undo the layers that made ``contexts``, from the last back to the input."""
        if rule not in RULES:  # checked here too: a stack without a ReLU would ignore it
            raise ValueError(f"rule must be one of {RULES}, not {rule!r}")
        if len(contexts) > len(self):
            raise ValueError(f"{len(contexts)} contexts for a stack of {len(self)} layers")
        layers = list(self)[: len(contexts)]
        for module, context in zip(reversed(layers), reversed(contexts), strict=True):
            if isinstance(module, UndoableReLU):
                y = module.undo(y, context, rule=rule)
            else:
                y = module.undo(y, context)
        return y

    def visualise_activations(self, x, layer=None, k=1, channel=None, rule="deconvnet"):
        """Keep each sample's ``k`` strongest activations at ``layer``, zero the rest, undo to ``x``.

        ``channel`` restricts the top ``k`` to one channel; ``rule`` is the ReLU rule of ``undo``.
        """
        with torch.no_grad():
            activations, contexts = self.activations(x, layer)
            return self.undo(keep_top_k(activations, k, channel), contexts, rule)
