"""Auto-encoders whose decoder mirrors the encoder, layer for layer.

Each hidden stage shrinks the side by ``stride · pooling`` (a strided convolution, then pooling;
``pooling=1`` means no pooling layer); the convolution to the code keeps the side
(``code_channels=None`` leaves it out: the last stage's maps go straight into a linear code).
The decoder restores the input size exactly when ``kernel_size`` is odd and each side of the
image is a multiple of ``(stride · pooling) ** len(hid_channels)``. With two stages of pooling 2
(or of stride 2 without pooling) that is any multiple of 4: 28×28 Fashion-MNIST, 32×32, 20×20.
``AutoEncoder.restores(size)`` says whether a given side comes back.
"""

import copy
import inspect
from collections.abc import Sequence

import torch
from torch import nn

from .likelihood import gaussian_kl, reparameterise
from .losses import check_assumption
from .provenance import mark_reference


def _stages(hid_channels):
    return (hid_channels,) if isinstance(hid_channels, int) else tuple(hid_channels)


def _check_kernel(kernel_size):
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd to keep sizes symmetric, not {kernel_size}")


def _check_code(code_channels, code_size):
    if code_channels is None and code_size is None:
        raise ValueError(
            "code_channels=None leaves out the convolution to the code, so the code must be the "
            "linear layer's: give code_size too"
        )


def code_side(image_size, n_stages, kernel_size, stride=1, pooling=2) -> int:
    """Side of the encoder's feature map for a square image of side ``image_size``."""
    side = image_size
    for _ in range(n_stages):
        side = -(-side // stride) // pooling  # convolution (padding k // 2), then pooling
    return side  # the convolution to the code has stride 1


def conv_encoder(
    in_channels,
    hid_channels,
    code_channels,
    kernel_size,
    stride=1,
    pooling=2,
    activation=None,
    *,
    code_size=None,
    hidden_size=None,
    image_size=28,
):
    """Convolution (of ``stride``), activation and average pooling per hidden stage, then a
    convolution of stride 1 to the code.

    ``hid_channels`` is one width or a sequence of widths (one stage each); ``pooling=1`` leaves
    the pooling out, ``code_channels=None`` the convolution to the code (then ``code_size`` is
    needed: the linear layer makes the code). With ``code_size``, an activation, a flatten and a
    linear layer squeeze the last feature maps (of a square image of side ``image_size``) into
    ``code_size`` numbers, through a fully connected layer of ``hidden_size`` units first if
    given. No activation at the end: the code is a logit-like quantity that losses and later
    layers can use directly.
    """
    _check_kernel(kernel_size)
    _check_code(code_channels, code_size)
    activation = activation or nn.ReLU()
    layers, channels = [], in_channels
    for width in _stages(hid_channels):
        layers += [
            nn.Conv2d(channels, width, kernel_size, stride, padding=kernel_size // 2),
            copy.deepcopy(activation),
        ]
        layers += [nn.AvgPool2d(pooling)] if pooling > 1 else []
        channels = width
    if code_channels is not None:
        layers.append(nn.Conv2d(channels, code_channels, kernel_size, 1, kernel_size // 2))
        layers += [copy.deepcopy(activation)] if code_size is not None else []
        channels = code_channels
    if code_size is not None:
        side = code_side(image_size, len(_stages(hid_channels)), kernel_size, stride, pooling)
        layers.append(nn.Flatten())
        features = channels * side * side
        if hidden_size is not None:
            layers += [nn.Linear(features, hidden_size), copy.deepcopy(activation)]
            features = hidden_size
        layers.append(nn.Linear(features, code_size))
    return mark_reference(nn.Sequential(*layers))


def conv_decoder(*args, **kwargs):
    """The mirror of :func:`conv_encoder` (which takes the same arguments): the encoder's layers
    reversed, each replaced by its transpose (:func:`transpose`).

    With ``code_size``, the mirrored linear layer takes ``code_size`` numbers: a VAE's decoder
    takes ``latent_dim`` numbers where its encoder gives ``2 * latent_dim``.
    """
    with torch.random.fork_rng(devices=[]):  # the encoder is a pattern: its weights are not drawn
        encoder = conv_encoder(*args, **kwargs)
    pairs = zip(encoder, _input_shapes(encoder, kwargs.get("image_size", 28)), strict=True)
    # made last layer first, the order in which a seeded model draws the decoder's weights
    return mark_reference(nn.Sequential(*(transpose(*pair) for pair in reversed(list(pairs)))))


conv_decoder.__signature__ = inspect.signature(conv_encoder)  # what help() and Jupyter show


def _input_shapes(encoder, side) -> list:
    """The shape of what goes into each layer of ``encoder`` for ``side``-sided images, or only
    ``None``s for a convolutional encoder (images of any side go through it)."""
    if not any(isinstance(layer, nn.Flatten) for layer in encoder):
        return [None] * len(encoder)
    x = torch.zeros(1, encoder[0].in_channels, side, side, device="meta")
    shapes = []
    for layer in copy.deepcopy(encoder).to("meta"):
        shapes.append(tuple(x.shape[1:]))
        x = layer(x)
    return shapes


def transpose(layer: nn.Module, in_shape=None) -> nn.Module:
    """The layer that undoes the shape of ``layer`` (which takes inputs of ``in_shape``).

    Linear ↔ linear (transposed shape), flatten ↔ unflatten, convolution ↔ transposed
    convolution (same stride, ``output_padding`` to restore even sides), average pooling ↔
    nearest upsampling (4× the transpose of 2×2 average pooling); an activation stays itself.
    """
    if isinstance(layer, nn.Conv2d):
        (stride, _), (padding, _) = layer.stride, layer.padding
        return nn.ConvTranspose2d(
            layer.out_channels, layer.in_channels, layer.kernel_size, stride, padding, stride - 1
        )
    if isinstance(layer, nn.Linear):
        return nn.Linear(layer.out_features, layer.in_features)
    if isinstance(layer, nn.Flatten):
        return nn.Unflatten(1, in_shape)
    if isinstance(layer, nn.AvgPool2d):
        return nn.Upsample(scale_factor=layer.kernel_size, mode="nearest")
    return copy.deepcopy(layer)


def to_intensities(logits, assumption, clamp=False, rescale=False):
    """Decoder logits as an image under ``assumption``; never in place, never across images.

    ``"gauss"``: the logits themselves (``clamp`` cuts them to [0, 1]; ``rescale`` maps each
    image's own minimum and maximum to 0 and 1); ``"censored"``: clamped to [0, 1];
    ``"bernoulli"``: their sigmoid, the probability of each pixel; ``"binary"``: 1 where the
    logit is positive, else 0.
    """
    check_assumption(assumption)
    if assumption == "gauss":
        image = logits
        if rescale:
            flat = logits.flatten(1)
            low = flat.min(dim=1).values.view(-1, *[1] * (logits.dim() - 1))
            high = flat.max(dim=1).values.view(-1, *[1] * (logits.dim() - 1))
            image = (logits - low) / (high - low).clamp_min(torch.finfo(logits.dtype).eps)
        return image.clamp(0, 1) if clamp else image.clone()
    if assumption == "censored":
        return logits.clamp(0, 1)
    if assumption == "bernoulli":
        return torch.sigmoid(logits)
    return (logits > 0).to(logits.dtype)


class AutoEncoder(nn.Module):
    """Convolutional auto-encoder: ``encoder`` maps images to codes, ``decoder`` codes to logits.

    ``assumption`` (``"gauss"``, ``"censored"``, ``"bernoulli"`` or ``"binary"``) says what the
    logits mean: :meth:`to_intensities` turns them into an image, and
    ``course_utils.losses.loss_for(model.assumption)`` is the loss that matches.
    ``code_size`` adds a linear bottleneck of that many numbers (for ``image_size``-sided images),
    ``hidden_size`` a fully connected layer of that many units on each side of it.
    """

    def __init__(
        self,
        in_channels,
        hid_channels: int | Sequence[int],
        code_channels,
        kernel_size,
        stride=1,
        pooling=2,
        activation=None,
        assumption=None,
        *,
        code_size=None,
        hidden_size=None,
        image_size=28,
    ):
        super().__init__()
        args = (in_channels, hid_channels, code_channels, kernel_size, stride, pooling, activation)
        shape = {"hidden_size": hidden_size, "image_size": image_size}
        into_code, out_of_code = self.code_sizes(code_size)
        self.encoder = conv_encoder(*args, code_size=into_code, **shape)
        self.decoder = conv_decoder(*args, code_size=out_of_code, **shape)
        self.assumption = None if assumption is None else check_assumption(assumption)
        self.shrink = (stride * pooling) ** len(_stages(hid_channels))
        if code_size is not None and not self.restores(image_size):
            raise ValueError(
                f"image_size {image_size} does not come back out of the decoder: "
                f"use a multiple of {self.shrink}"
            )
        # Convolution weights in channels-last layout: about twice as fast on a CPU, same results.
        self.to(memory_format=torch.channels_last)
        mark_reference(self)  # so that exercises can tell it, and its parts, from a student's

    @staticmethod
    def code_sizes(code_size):
        """How many numbers the encoder puts out and the decoder takes in (None: the maps)."""
        return code_size, code_size

    def restores(self, size) -> bool:
        """Whether an image side of ``size`` pixels comes out of the decoder unchanged."""
        return size % self.shrink == 0

    def encode(self, x):
        """The code of each image."""
        return self.encoder(x).contiguous()

    def decode(self, code):
        """The logits of the image each code stands for."""
        return self.decoder(code).contiguous()

    def forward(self, x):
        return self.decode(self.encode(x))

    def to_intensities(self, logits, clamp=False, rescale=False):
        """Logits as an image under the model's assumption (see :func:`to_intensities`)."""
        if self.assumption is None:
            raise ValueError(
                "this model has no assumption: pass assumption='gauss', 'censored', "
                "'bernoulli' or 'binary' when you build it"
            )
        return to_intensities(logits, self.assumption, clamp, rescale)

    def reconstruct(self, x):
        """Encode, decode and turn into intensities, without gradients, on the model's device."""
        with torch.no_grad():
            return self.to_intensities(self(x.to(self._device())))

    def _device(self):
        return next(self.parameters()).device


class VariationalAutoEncoder(AutoEncoder):
    """Convolutional variational auto-encoder with a ``latent_dim``-dimensional Gaussian code.

    Takes :class:`AutoEncoder`'s arguments, with ``latent_dim`` in place of ``code_size``: the
    encoder ends in ``2 * latent_dim`` numbers (``hidden_size`` adds a fully connected layer
    before them), the first half the mean of the code's distribution, the second half its
    log-variance. The decoder mirrors the encoder from ``latent_dim`` numbers and predicts the
    logits of Bernoulli pixels. All losses are nats per image: summed over latent dimensions (and
    pixels), averaged over the batch.
    """

    def __init__(self, *stages, latent_dim, **options):
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(
                f"latent_dim is a number of latent dimensions, 1 or more, not {latent_dim!r}"
            )
        super().__init__(*stages, assumption="bernoulli", code_size=latent_dim, **options)
        self.latent_dim = latent_dim

    @staticmethod
    def code_sizes(latent_dim):
        """A mean and a log-variance for each latent dimension in, one sample of them out."""
        return 2 * latent_dim, latent_dim

    def encode(self, x):
        """The parameters ``(mean, log_var)`` of each image's code distribution, N×latent_dim each."""
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        return mean, log_var

    def sample(self, mean, log_var):
        """A reparameterised sample ``mean + std * eps`` with ``std = exp(log_var / 2)``, ``eps ~ N(0, I)``.

        The noise comes from outside the computation, so gradients reach ``mean`` and ``log_var``.
        """
        return reparameterise(mean, log_var, torch.randn_like(mean))

    def regularisation(self, params):
        """KL divergence from ``N(mean, exp(log_var))`` to the prior ``N(0, I)``, in nats per image.

        Closed form (Kingma and Welling, 2014, appendix B), summed over latent dimensions and
        averaged over the batch, like a reconstruction loss summed over pixels.
        """
        return gaussian_kl(*params).mean()

    def forward(self, x):
        """Logits of each image decoded from a sampled code, and the code's ``(mean, log_var)``."""
        mean, log_var = self.encode(x)
        return self.decode(self.sample(mean, log_var)), (mean, log_var)

    def generate(self, z):
        """Images (pixel probabilities) decoded from codes ``z``, without gradients."""
        with torch.no_grad():
            return self.to_intensities(self.decode(z.to(self._device())))

    def reconstruct(self, x):
        """Images decoded from the mean code of each image in ``x``, without gradients."""
        with torch.no_grad():
            mean, _ = self.encode(x.to(self._device()))
            return self.to_intensities(self.decode(mean))


def _vae_signature():
    """AutoEncoder's parameters, with ``latent_dim`` (keyword-only) for ``code_size`` and ``assumption``."""
    kept = [
        p
        for p in inspect.signature(AutoEncoder.__init__).parameters.values()
        if p.name not in ("assumption", "code_size")
    ]
    latent_dim = inspect.Parameter("latent_dim", inspect.Parameter.KEYWORD_ONLY)
    position = next(i for i, p in enumerate(kept) if p.kind is inspect.Parameter.KEYWORD_ONLY)
    return inspect.Signature([*kept[:position], latent_dim, *kept[position:]])


VariationalAutoEncoder.__init__.__signature__ = _vae_signature()  # what help() and Jupyter show
