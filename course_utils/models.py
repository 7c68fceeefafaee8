"""Auto-encoders whose decoder mirrors the encoder, layer for layer."""

from collections.abc import Sequence

from torch import nn


def _stages(hid_channels):
    return (hid_channels,) if isinstance(hid_channels, int) else tuple(hid_channels)


def conv_encoder(
    in_channels, hid_channels, code_channels, kernel_size, stride=1, pooling=2, activation=None
):
    """Convolution, activation and average pooling per hidden stage, then a convolution to the code.

    ``hid_channels`` is one width or a sequence of widths (one stage each). No activation at the
    end: the code is a logit-like quantity that losses and later layers can use directly.
    """
    activation = activation or nn.ReLU()
    layers, channels = [], in_channels
    for width in _stages(hid_channels):
        layers += [
            nn.Conv2d(channels, width, kernel_size, stride, padding=kernel_size // 2),
            activation,
            nn.AvgPool2d(pooling),
        ]
        channels = width
    layers.append(nn.Conv2d(channels, code_channels, kernel_size, stride, kernel_size // 2))
    return nn.Sequential(*layers)


def conv_decoder(
    in_channels, hid_channels, code_channels, kernel_size, stride=1, pooling=2, activation=None
):
    """The mirror of :func:`conv_encoder`: its layers reversed, each replaced by its transpose.

    Convolution ↔ transposed convolution, average pooling ↔ nearest upsampling; no final
    activation, so the decoder predicts logits.
    """
    activation = activation or nn.ReLU()
    padding, extra = kernel_size // 2, stride - 1
    widths = _stages(hid_channels)
    layers, channels = [], code_channels
    for width in reversed(widths):
        layers += [
            nn.ConvTranspose2d(channels, width, kernel_size, stride, padding, output_padding=extra),
            nn.Upsample(scale_factor=pooling, mode="nearest"),
            activation,
        ]
        channels = width
    layers.append(
        nn.ConvTranspose2d(
            channels, in_channels, kernel_size, stride, padding, output_padding=extra
        )
    )
    return nn.Sequential(*layers)


class AutoEncoder(nn.Module):
    """Convolutional auto-encoder: ``encoder`` maps images to codes, ``decoder`` codes to logits."""

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
    ):
        super().__init__()
        args = (in_channels, hid_channels, code_channels, kernel_size, stride, pooling, activation)
        self.encoder = conv_encoder(*args)
        self.decoder = conv_decoder(*args)
        self.assumption = assumption

    def forward(self, x):
        return self.decoder(self.encoder(x))
