"""The auto-encoder: shapes, the mirror, the bottleneck and ``to_intensities``."""

import inspect

import pytest
import torch
from torch import nn

from course_utils.losses import ASSUMPTIONS
from course_utils.models import (
    AutoEncoder,
    code_side,
    conv_decoder,
    conv_encoder,
    to_intensities,
    transpose,
)
from course_utils.provenance import borrowed_parts

CONFIGS = [
    # (keyword arguments, image side, channels)
    (dict(hid_channels=(16, 32), code_channels=4, kernel_size=3), 28, 1),
    (dict(hid_channels=8, code_channels=2, kernel_size=5), 28, 1),
    (dict(hid_channels=(8, 8, 8), code_channels=4, kernel_size=3), 32, 3),
    (dict(hid_channels=8, code_channels=4, kernel_size=3, stride=2), 32, 1),
    (dict(hid_channels=(8, 16), code_channels=4, kernel_size=3, pooling=1, stride=2), 32, 1),
    (dict(hid_channels=(16, 32), code_channels=8, kernel_size=3, code_size=16), 28, 1),
    (dict(hid_channels=8, code_channels=4, kernel_size=3, code_size=5, image_size=20), 20, 2),
    # convolutional only: any side goes through, here one too small for the default image_size
    (dict(hid_channels=(8, 8, 16, 16, 32), code_channels=4, kernel_size=3), 32, 3),
    # no convolution to the code: the last stage straight into the linear code
    (dict(hid_channels=(16, 32), code_channels=None, kernel_size=3, stride=2, pooling=1,
          code_size=16), 28, 1),
    (dict(hid_channels=(4, 8), code_channels=None, kernel_size=3, code_size=6, hidden_size=10),
     28, 2),
]  # fmt: skip


def _model(kwargs, channels=1, **extra):
    torch.manual_seed(0)
    return AutoEncoder(channels, **kwargs, **extra)


@pytest.mark.parametrize("kwargs, side, channels", CONFIGS)
def test_input_shape_is_restored(kwargs, side, channels):
    model = _model(kwargs, channels)
    x = torch.rand(3, channels, side, side)
    assert model.restores(side)
    assert model(x).shape == x.shape


@pytest.mark.parametrize("kwargs, side, channels", CONFIGS[:5])
def test_restores_says_which_sizes_come_back(kwargs, side, channels):
    model = _model(kwargs, channels)
    for size in range(16, 37):
        out = model(torch.rand(1, channels, size, size))
        assert model.restores(size) == (out.shape[-2:] == (size, size)), size


@pytest.mark.parametrize("kwargs, side, channels", CONFIGS)
def test_code_is_a_bottleneck(kwargs, side, channels):
    model = _model(kwargs, channels)
    x = torch.rand(2, channels, side, side)
    code = model.encode(x)
    assert code[0].numel() < x[0].numel()
    if "code_size" in kwargs:
        assert code.shape == (2, kwargs["code_size"])
    else:
        stages = len(torch.atleast_1d(torch.tensor(kwargs["hid_channels"])))
        n = code_side(
            side, stages, kwargs["kernel_size"], kwargs.get("stride", 1), kwargs.get("pooling", 2)
        )
        assert code.shape == (2, kwargs["code_channels"], n, n)


def test_stated_bottleneck_sizes():
    """The chapters' models: 784 pixels into 4×7×7 = 196 numbers, or into 16."""
    x = torch.rand(1, 1, 28, 28)
    conv = AutoEncoder(1, (16, 32), 4, 3)
    assert conv.encode(x).shape == (1, 4, 7, 7)
    linear = AutoEncoder(1, (16, 32), 8, 3, code_size=16)
    assert linear.encode(x).shape == (1, 16)


def test_without_a_code_convolution_the_strided_model_is_the_plain_two_stage_auto_encoder():
    """Conv, ReLU, conv, ReLU, linear code, and back: StTom88's shape (bench/references.py)."""
    model = AutoEncoder(1, (16, 32), None, 3, stride=2, pooling=1, code_size=16)
    assert [type(m) for m in model.encoder] == [
        nn.Conv2d,
        nn.ReLU,
        nn.Conv2d,
        nn.ReLU,
        nn.Flatten,
        nn.Linear,
    ]
    assert [type(m) for m in model.decoder] == [
        nn.Linear, nn.Unflatten, nn.ReLU, nn.ConvTranspose2d, nn.ReLU, nn.ConvTranspose2d
    ]  # fmt: skip
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [
        (16, 1, 3, 3), (16,), (32, 16, 3, 3), (32,), (16, 1568), (16,),
        (1568, 16), (1568,), (32, 16, 3, 3), (16,), (16, 1, 3, 3), (1,),
    ]  # fmt: skip


def test_without_a_code_convolution_the_code_must_be_linear():
    with pytest.raises(ValueError, match="code_channels=None .* give code_size"):
        AutoEncoder(1, (16, 32), None, 3)


MIRROR = {
    nn.Conv2d: nn.ConvTranspose2d,
    nn.AvgPool2d: nn.Upsample,
    nn.Linear: nn.Linear,
    nn.Flatten: nn.Unflatten,
    nn.ReLU: nn.ReLU,
    nn.PReLU: nn.PReLU,
}


@pytest.mark.parametrize("kwargs, side, channels", CONFIGS)
def test_decoder_mirrors_encoder_layer_for_layer(kwargs, side, channels):
    model = _model(kwargs, channels)
    encoder, decoder = list(model.encoder), list(reversed(model.decoder))
    assert len(encoder) == len(decoder)
    for down, up in zip(encoder, decoder, strict=True):
        assert type(up) is MIRROR[type(down)], (down, up)
        if isinstance(down, nn.Conv2d):  # the transpose has the same weight shape, in ↔ out
            assert up.weight.shape == down.weight.shape
            assert (up.stride, up.padding) == (down.stride, down.padding)
        if isinstance(down, nn.Linear):
            assert up.weight.shape == down.weight.T.shape
        if isinstance(down, nn.AvgPool2d):
            assert up.scale_factor == down.kernel_size


@pytest.mark.parametrize("kwargs, side, channels", CONFIGS)
def test_no_activation_at_either_end(kwargs, side, channels):
    model = _model(kwargs, channels)
    weighted = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    assert isinstance(model.encoder[-1], weighted)
    assert isinstance(model.decoder[-1], weighted)
    with torch.no_grad():  # so both can be negative and above one: logits, not squashed values
        model.decoder[-1].bias.fill_(-5.0)
        assert (model(torch.rand(2, channels, side, side)) < 0).all()
        model.decoder[-1].bias.fill_(5.0)
        assert (model(torch.rand(2, channels, side, side)) > 1).all()


def test_weights_are_not_shared_and_activations_are_copies():
    model = AutoEncoder(1, (4, 8), 2, 3, activation=nn.PReLU())
    prelus = [m for m in model.modules() if isinstance(m, nn.PReLU)]
    assert len(prelus) == 4
    assert len({id(p.weight) for p in prelus}) == 4
    pointers = [p.data_ptr() for p in model.parameters()]
    assert len(set(pointers)) == len(pointers)


def test_builders_keep_their_signature():
    assert inspect.signature(conv_decoder) == inspect.signature(conv_encoder)  # what help() shows
    encoder = conv_encoder(1, (8, 16), 4, 3)
    decoder = conv_decoder(1, (8, 16), 4, 3)
    x = torch.rand(2, 1, 28, 28)
    assert decoder(encoder(x)).shape == x.shape
    assert conv_encoder(1, 8, 6, 3, 1, 2, nn.ReLU())(x).shape == (2, 6, 14, 14)


@pytest.mark.parametrize(
    "args, shape",
    [((1, (8, 16), 4, 3), {}), ((1, (8, 16), None, 3, 2, 1), {"code_size": 10, "hidden_size": 32})],
)
def test_the_decoder_is_the_encoder_reversed_and_transposed(args, shape):
    encoder, decoder = conv_encoder(*args, **shape), conv_decoder(*args, **shape)
    kinds = {nn.Conv2d: nn.ConvTranspose2d, nn.Linear: nn.Linear, nn.AvgPool2d: nn.Upsample}
    kinds |= {nn.Flatten: nn.Unflatten, nn.ReLU: nn.ReLU}
    assert [kinds[type(m)] for m in reversed(encoder)] == [type(m) for m in decoder]
    for mine, mirror in zip(encoder, reversed(decoder), strict=True):
        if isinstance(mine, nn.Linear):
            assert mirror.weight.shape == mine.weight.T.shape
        elif isinstance(mine, nn.Conv2d):  # ConvTranspose2d(out, in) has Conv2d(in, out)'s shape
            assert mirror.weight.shape == mine.weight.shape
            assert (mirror.stride, mirror.padding) == (mine.stride, mine.padding)


def test_a_seeded_decoder_draws_only_its_own_weights():
    """The encoder that conv_decoder mirrors is a pattern: drawing it would change every seed."""
    torch.manual_seed(0)
    decoder = conv_decoder(1, (8, 16), None, 3, 2, 1, code_size=10)
    torch.manual_seed(0)
    assert torch.equal(decoder[0].weight, nn.Linear(10, 16 * 7 * 7).weight)


def test_a_transposed_convolution_is_the_adjoint_of_its_convolution():
    """<conv(x), y> = <x, conv^T(y)> with the same weights: the transpose is the backward pass."""
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=False)
    mirror = transpose(conv, (3, 28, 28))
    mirror.weight.data = conv.weight.data
    x, y = torch.randn(2, 3, 28, 28, dtype=torch.float64), torch.randn(2, 5, 14, 14).double()
    conv, mirror = conv.double(), mirror.double()
    mirror.bias.data.zero_()
    assert torch.allclose((conv(x) * y).sum(), (x * mirror(y)).sum())
    assert transpose(nn.Flatten(), (4, 7, 7))(torch.zeros(2, 196)).shape == (2, 4, 7, 7)
    assert isinstance(transpose(nn.AvgPool2d(2), (4, 14, 14)), nn.Upsample)


def test_even_kernel_and_unrestorable_image_size_are_refused():
    with pytest.raises(ValueError, match="odd"):
        AutoEncoder(1, 8, 4, 4)
    with pytest.raises(ValueError, match="multiple of 4"):
        AutoEncoder(1, (8, 8), 4, 3, code_size=8, image_size=30)


def test_library_models_are_tagged_as_reference():
    """Chapter 3's tests find the library's model, or its halves, inside a student's model."""
    model = AutoEncoder(1, (4, 8), 2, 3, code_size=5)
    parts = borrowed_parts(model)
    assert {"", "encoder", "decoder", "encoder.0", "decoder.0"} <= set(parts)
    assert len(parts) == len(list(model.modules()))
    assert borrowed_parts(conv_encoder(1, 8, 4, 3)) and borrowed_parts(conv_decoder(1, 8, 4, 3))

    class Student(nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder, self.decoder = encoder, nn.ConvTranspose2d(2, 1, 3)

    assert borrowed_parts(Student(nn.Conv2d(1, 2, 3))) == []
    assert borrowed_parts(Student(AutoEncoder(1, 4, 2, 3).encoder))[0] == "encoder"


# ---------------------------------------------------------------- to_intensities and reconstruct


def _logits():
    torch.manual_seed(1)
    return torch.randn(6, 1, 5, 5) * 3


def test_gauss_is_the_identity_unless_clamped():
    logits = _logits()
    out = to_intensities(logits, "gauss")
    assert torch.equal(out, logits) and out.data_ptr() != logits.data_ptr()
    assert torch.equal(to_intensities(logits, "gauss", clamp=True), logits.clamp(0, 1))


def test_censored_clamps_bernoulli_squashes_binary_thresholds():
    logits = _logits()
    assert torch.equal(to_intensities(logits, "censored"), torch.clamp(logits, 0, 1))
    bern = to_intensities(logits, "bernoulli")
    assert torch.allclose(bern, 1 / (1 + torch.exp(-logits)))
    binary = to_intensities(logits, "binary")
    assert set(binary.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(binary.bool(), 1 / (1 + torch.exp(-logits)) > 0.5)
    assert binary.dtype == logits.dtype


@pytest.mark.parametrize("assumption", ["censored", "bernoulli", "binary"])
def test_intensities_land_in_the_unit_interval(assumption):
    out = to_intensities(_logits() * 100, assumption)
    assert out.min() >= 0 and out.max() <= 1


def test_rescaling_is_per_image_never_per_batch():
    logits = _logits()
    logits[0] *= 50  # one image with a huge range must not squash the others
    out = to_intensities(logits, "gauss", rescale=True)
    flat = out.flatten(1)
    assert torch.allclose(flat.min(1).values, torch.zeros(6))
    assert torch.allclose(flat.max(1).values, torch.ones(6))
    for i in range(6):
        alone = to_intensities(logits[i : i + 1], "gauss", rescale=True)
        assert torch.allclose(out[i : i + 1], alone)
        low, high = logits[i].min(), logits[i].max()
        assert torch.allclose(out[i], (logits[i] - low) / (high - low))
    flat_image = torch.full((1, 1, 4, 4), 0.3)
    assert torch.isfinite(to_intensities(flat_image, "gauss", rescale=True)).all()


@pytest.mark.parametrize("assumption", ASSUMPTIONS)
def test_never_in_place(assumption):
    logits = _logits()
    before = logits.clone()
    out = to_intensities(logits, assumption, clamp=True, rescale=True)
    assert torch.equal(logits, before)
    out.add_(1)  # writing to the result leaves the logits alone
    assert torch.equal(logits, before)


def test_unknown_assumption_lists_the_valid_ones():
    for call in (
        lambda: to_intensities(_logits(), "gaussian"),
        lambda: AutoEncoder(1, 8, 4, 3, assumption="poisson"),
    ):
        with pytest.raises(ValueError) as error:
            call()
        for name in ASSUMPTIONS:
            assert repr(name) in str(error.value)
    with pytest.raises(ValueError, match="no assumption"):
        AutoEncoder(1, 8, 4, 3).to_intensities(_logits())


@pytest.mark.parametrize("assumption", ASSUMPTIONS)
def test_reconstruct_is_encode_decode_intensities(assumption):
    model = _model(CONFIGS[0][0], assumption=assumption)
    x = torch.rand(4, 1, 28, 28)
    out = model.reconstruct(x)
    assert not out.requires_grad
    assert out.shape == x.shape
    assert torch.equal(out, to_intensities(model.decode(model.encode(x)), assumption).detach())
