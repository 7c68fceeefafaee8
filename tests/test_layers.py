"""The undoable layers against PyTorch's own transposes, unpooling and autograd."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_utils.layers import (
    UndoableConv2d,
    UndoableMaxPool2d,
    UndoableReLU,
    UndoableSequential,
    conv_output_size,
    keep_top_k,
    transposed_output_size,
    undoable,
)

ATOL = 1e-5


@st.composite
def conv_configs(draw):
    """A random convolution (any stride/padding/dilation/groups) and an input it accepts."""
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    size = []
    for k, d, p in zip(kernel, dilation, padding, strict=True):
        smallest = max(1, d * (k - 1) + 1 - 2 * p)  # at least one output position
        size.append(draw(st.integers(smallest, smallest + 9)))
    layer_args = dict(
        in_channels=in_channels, out_channels=out_channels, kernel_size=kernel, stride=stride,
        padding=padding, dilation=dilation, groups=groups, bias=draw(st.booleans()),
    )  # fmt: skip
    return layer_args, (draw(st.integers(1, 3)), in_channels, *size), draw(st.integers(0, 2**31))


@settings(max_examples=80, deadline=None)
@given(conv_configs())
def test_conv_undo_is_the_transposed_convolution_for_any_geometry(config):
    layer_args, shape, seed = config
    torch.manual_seed(seed)
    layer = UndoableConv2d(**layer_args).double()
    x = torch.randn(shape, dtype=torch.double)
    y, context = layer(x)
    assert torch.allclose(y, F.conv2d(x, layer.weight, layer.bias, *_geometry(layer)))
    signal = torch.randn_like(y)
    undone = layer.undo(signal, context)
    assert undone.shape == x.shape  # output_padding restored every dropped row and column
    backward = torch.nn.grad.conv2d_input(x.shape, layer.weight, signal, *_geometry(layer))
    assert torch.allclose(undone, backward, atol=ATOL)
    forward = F.conv2d(x.requires_grad_(), layer.weight, None, *_geometry(layer))
    (autograd,) = torch.autograd.grad(forward, x, signal)
    assert torch.allclose(undone, autograd, atol=ATOL)


def _geometry(layer):
    return layer.stride, layer.padding, layer.dilation, layer.groups


def test_conv_undo_equals_conv_transpose2d_with_the_layers_weights():
    torch.manual_seed(0)
    layer = UndoableConv2d(2, 3, 3, stride=2, padding=1)
    for size in (7, 8):  # odd and even: one needs output_padding=1, the other 0
        x = torch.randn(1, 2, size, size)
        y, context = layer(x)
        padding = size - transposed_output_size(y.shape[-1], 3, 2, 1)
        assert padding == (1 if size == 8 else 0)
        expected = F.conv_transpose2d(y, layer.weight, None, 2, 1, output_padding=padding)
        assert torch.allclose(layer.undo(y, context), expected)


def test_output_size_formulas_match_pytorch():
    for n, k, s, p, d, op in [(28, 3, 1, 1, 1, 0), (28, 5, 2, 2, 1, 1), (7, 3, 2, 0, 2, 1)]:
        m = conv_output_size(n, k, s, p, d)
        assert (
            m == F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), None, s, p, d).shape[-1]
        )
        t = F.conv_transpose2d(
            torch.zeros(1, 1, m, m), torch.zeros(1, 1, k, k), None, s, p, op, 1, d
        )
        assert transposed_output_size(m, k, s, p, d, op) == t.shape[-1]


@pytest.mark.parametrize("kernel, dilation", [(4, 1), (3, 2), (2, 3), ((2, 3), 1)])
# PyTorch's note that an even kernel with 'same' padding copies the input: the case tested here
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
def test_conv_undo_with_same_padding_is_the_backward_pass(kernel, dilation):
    torch.manual_seed(0)
    layer = UndoableConv2d(2, 3, kernel, padding="same", dilation=dilation).double()
    x = torch.randn(2, 2, 9, 6, dtype=torch.double, requires_grad=True)
    y, context = layer(x)
    signal = torch.randn_like(y)
    (expected,) = torch.autograd.grad(y, x, signal)
    assert torch.allclose(layer.undo(signal, context), expected)


def test_conv_refuses_padding_modes_it_cannot_transpose():
    with pytest.raises(ValueError, match="padding_mode"):
        UndoableConv2d(1, 1, 3, padding=1, padding_mode="reflect")


@settings(max_examples=60, deadline=None)
@given(
    kernel=st.integers(1, 4),
    stride=st.integers(1, 4),
    size=st.tuples(st.integers(4, 13), st.integers(4, 13)),
    seed=st.integers(0, 2**31),
)
def test_pool_undo_is_max_unpool_and_the_backward_pass(kernel, stride, size, seed):
    torch.manual_seed(seed)
    padding = kernel // 2 if kernel > 1 else 0
    layer = UndoableMaxPool2d(kernel, stride, padding)
    x = torch.randn(2, 3, *size, dtype=torch.double, requires_grad=True)
    y, context = layer(x)
    signal = torch.randn_like(y)
    undone = layer.undo(signal, context)
    (backward,) = torch.autograd.grad(y, x, signal)
    assert torch.allclose(undone, backward)
    if stride >= kernel:  # windows do not overlap: every switch is distinct
        _, indices = F.max_pool2d(x, kernel, stride, padding, return_indices=True)
        unpooled = F.max_unpool2d(signal, indices, kernel, stride, padding, output_size=size)
        assert torch.equal(undone, unpooled)


def test_pool_undo_restores_odd_sizes_and_places_values_at_the_maxima():
    x = torch.tensor([[[[1.0, 5, 2], [3, 4, 9], [0, 8, 7]]]])
    layer = UndoableMaxPool2d(2)
    y, context = layer(x)
    assert y.tolist() == [[[[5.0]]]]
    undone = layer.undo(torch.tensor([[[[-2.0]]]]), context)
    assert undone.tolist() == [[[[0.0, -2, 0], [0, 0, 0], [0, 0, 0]]]]


def test_relu_rules():
    x = torch.tensor([[[[-1.0, 2.0, -3.0, 4.0]]]])
    layer = UndoableReLU()
    y, context = layer(x)
    signal = torch.tensor([[[[5.0, -6.0, -7.0, 8.0]]]])
    assert layer.undo(signal, context).tolist() == [[[[5.0, 0.0, 0.0, 8.0]]]]
    assert layer.undo(signal, context, rule="backprop").tolist() == [[[[0.0, -6.0, -0.0, 8.0]]]]
    assert layer.undo(signal, context, rule="guided").tolist() == [[[[0.0, 0.0, 0.0, 8.0]]]]
    with pytest.raises(ValueError, match="rule"):
        layer.undo(signal, context, rule="reverse")


def test_clear_errors_for_wrong_inputs_and_foreign_contexts():
    conv, other = UndoableConv2d(3, 4, 3), UndoableConv2d(3, 4, 3)
    with pytest.raises(ValueError, match="2 channels, but this layer expects 3"):
        conv(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="N×C×H×W"):
        conv(torch.zeros(3, 8, 8))
    y, context = conv(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="another layer"):
        other.undo(y, context)
    with pytest.raises(ValueError, match="context returned by this layer"):
        conv.undo(y, (8, 8))
    with pytest.raises(ValueError, match="5 channels, but this layer expects 4"):
        conv.undo(torch.zeros(1, 5, 6, 6), context)
    with pytest.raises(ValueError, match=r"output for an input of \(8, 8\) is \(6, 6\)"):
        conv.undo(torch.zeros(1, 4, 5, 6), context)
    pool, relu = UndoableMaxPool2d(2), UndoableReLU()
    _, pool_context = pool(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="another layer"):
        relu.undo(torch.zeros(1, 3, 4, 4), pool_context)
    with pytest.raises(ValueError, match="output was"):
        pool.undo(torch.zeros(1, 3, 5, 4), pool_context)


def test_keep_top_k_keeps_each_samples_largest_values():
    a = torch.tensor(
        [
            [[[1.0, 7.0], [3.0, -2.0]], [[6.0, 0.0], [2.0, 5.0]]],
            [[[0.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, 0.0]]],
        ]
    )
    kept = keep_top_k(a, 2)
    assert kept.tolist() == [
        [[[0.0, 7.0], [0.0, 0.0]], [[6.0, 0.0], [0.0, 0.0]]],
        [[[0.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, 0.0]]],
    ]
    only_first = keep_top_k(a, 1, channel=1)
    assert only_first[0].tolist() == [[[0.0, 0.0], [0.0, 0.0]], [[6.0, 0.0], [0.0, 0.0]]]
    with pytest.raises(ValueError, match="k must be between 1 and 8"):
        keep_top_k(a, 9)
    with pytest.raises(ValueError, match="channel"):
        keep_top_k(a, 1, channel=2)


class DeconvnetReLU(torch.autograd.Function):
    """ReLU whose backward pass is the deconvnet rule: ReLU of the incoming gradient."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(min=0)


def plain_forward(model, x, upto):
    """The same network written with functional ops and the deconvnet ReLU, for autograd."""
    for layer in list(model)[: upto + 1]:
        if isinstance(layer, nn.Conv2d):
            x = F.conv2d(x, layer.weight, layer.bias, *_geometry(layer))
        elif isinstance(layer, nn.MaxPool2d):
            x = F.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding, layer.dilation)
        else:
            x = DeconvnetReLU.apply(x)
    return x


def network():
    torch.manual_seed(0)
    return UndoableSequential(
        UndoableConv2d(1, 4, 3, padding=1), UndoableReLU(), UndoableMaxPool2d(2),
        UndoableConv2d(4, 6, 3, stride=2, padding=1, dilation=1), UndoableReLU(),
        UndoableMaxPool2d(3, stride=2, padding=1),
        UndoableConv2d(6, 8, 2, dilation=2, groups=2), UndoableReLU(),
    ).double()  # fmt: skip


@pytest.mark.parametrize("layer", [0, 1, 2, 4, 5, 7, None, -3])
@pytest.mark.parametrize("k", [1, 5])
def test_deconvnet_equals_autograd_with_the_deconvnet_relu(layer, k):
    model = network()
    x = torch.randn(3, 1, 29, 27, dtype=torch.double)
    index = model.layer_index(layer)
    a = plain_forward(model, x.clone().requires_grad_(), index)
    top = a.detach().flatten(1).topk(k, dim=1)
    kept = torch.zeros_like(a).flatten(1).scatter(1, top.indices, top.values).view_as(a)
    xg = x.clone().requires_grad_()
    (expected,) = torch.autograd.grad(plain_forward(model, xg, index), xg, kept)
    result = model.visualise_activations(x, layer, k)
    assert result.shape == x.shape
    assert torch.allclose(result, expected, atol=1e-10)
    assert result.abs().sum() > 0


def test_backprop_rule_is_the_gradient_of_the_kept_activations():
    model = network()
    x = torch.randn(2, 1, 28, 28, dtype=torch.double, requires_grad=True)
    a, _ = model.activations(x, 4)
    kept = keep_top_k(a.detach(), 3)
    (gradient,) = torch.autograd.grad(a, x, kept)
    assert torch.allclose(model.visualise_activations(x, 4, 3, rule="backprop"), gradient)


def test_sequential_forward_returns_plain_outputs_and_trains():
    model = network()
    x = torch.randn(2, 1, 28, 28, dtype=torch.double)
    out = model(x)
    assert isinstance(out, torch.Tensor) and torch.equal(out, model.activations(x)[0])
    classifier = nn.Sequential(model, nn.Flatten(), nn.Linear(out[0].numel(), 10).double())
    classifier(x).logsumexp(1).sum().backward()
    assert model[0].weight.grad is not None and model[0].weight.grad.abs().sum() > 0


def test_sequential_errors():
    model = network()
    x = torch.randn(1, 1, 28, 28, dtype=torch.double)
    assert model.layer_index(torch.tensor(2)) == 2 and model.layer_index(-1) == 7
    for bad in (8, -9, 1.5, "conv", True):
        with pytest.raises(ValueError, match="layer must be an index from -8 to 7"):
            model.visualise_activations(x, bad)
    with pytest.raises(ValueError, match="has no undo"):
        UndoableSequential(UndoableConv2d(1, 2, 3), nn.ReLU())
    _, contexts = model.activations(x, 2)
    with pytest.raises(ValueError, match="another layer"):
        network().undo(torch.zeros(1, 4, 14, 14, dtype=torch.double), contexts)
    _, contexts = model.activations(x, 0)  # a convolution alone: no ReLU to check the rule
    with pytest.raises(ValueError, match="rule must be one of"):
        model.undo(torch.zeros(1, 4, 28, 28, dtype=torch.double), contexts, rule="gradient")


def test_undoable_twins_compute_the_same_and_undo_by_the_backward_pass():
    torch.manual_seed(0)
    plain = nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
        nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, bias=False),
    ).double()  # fmt: skip
    twin = UndoableSequential(*map(undoable, plain))
    assert [type(layer) for layer in twin] == [
        UndoableConv2d, UndoableReLU, UndoableMaxPool2d, UndoableConv2d
    ]  # fmt: skip
    x = torch.randn(2, 3, 13, 13, dtype=torch.double, requires_grad=True)
    assert torch.equal(twin(x), plain(x))
    assert twin[0].weight is not plain[0].weight  # copied: training one leaves the other
    y, contexts = twin.activations(x.detach())
    signal = torch.randn_like(y)
    (gradient,) = torch.autograd.grad(plain(x), x, signal)  # the backward pass
    assert torch.allclose(twin.undo(signal, contexts, rule="backprop"), gradient, atol=ATOL)


def test_undoable_refuses_layers_it_has_no_twin_for():
    with pytest.raises(ValueError, match="no twin for Linear: it converts nn.Conv2d"):
        undoable(nn.Linear(2, 3))
    with pytest.raises(ValueError, match="padding_mode='reflect' cannot be undone"):
        undoable(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"))
    with pytest.raises(ValueError, match="returns its indices"):
        undoable(nn.MaxPool2d(2, return_indices=True))
