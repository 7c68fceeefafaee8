"""Chapter 3's exercises, as tables for the harness in ``tests/exercises.py``: each test cell passes
the solution and a correct answer written differently, and fails the mistakes students make (in its
visible part, or only in the hidden one) and every way of reusing the library's model."""

import re

import pytest
from exercises import Cell, Edit, Exercise, Task, hidden

pytestmark = pytest.mark.slow

PADDED = "nn.ConvTranspose2d(width, channels, kernel_size, padding=padding),"
CONV = (
    "conv = lambda n: (n + 2 * (kernel_size // 2) - kernel_size) // stride + 1\nside = image_size\n"
)
STRIDED_TRANSPOSE = (
    "nn.ConvTranspose2d(width, channels, kernel_size, 2, padding, output_padding=1),"
)

AUTOENCODER = Task(
    tests={"ch3-autoencoder-tests": 4},
    alternatives={
        "autoencoder: average pooling in a loop": [
            """
p = kernel_size // 2
sizes = [in_channels, *hid_channels]
down, up = [], [nn.ConvTranspose2d(code_channels, sizes[-1], kernel_size, padding=p)]
for c_in, c_out in zip(sizes, sizes[1:]):
    down += [nn.Conv2d(c_in, c_out, kernel_size, padding=p), nn.ReLU(), nn.AvgPool2d(2)]
down.append(nn.Conv2d(sizes[-1], code_channels, kernel_size, padding=p))
for c_out, c_in in reversed(list(zip(sizes, sizes[1:]))):
    up += [nn.Upsample(scale_factor=2), nn.ReLU(), nn.ConvTranspose2d(c_in, c_out, kernel_size, padding=p)]
self.encoder = nn.Sequential(*down)
self.decoder = nn.Sequential(*up)""",
            """
code = self.encoder(x)
return self.decoder(code)""",
        ],
    },
    mistakes={
        "a sigmoid at the end of the decoder": Edit({"self.decoder = nn.Sequential(*decoder)": "self.decoder = nn.Sequential(*decoder, nn.Sigmoid())"}),
        "a ReLU after the code": Edit({
            "encoder.append(nn.Conv2d(channels, code_channels, kernel_size, padding=padding))":
            "encoder += [nn.Conv2d(channels, code_channels, kernel_size, padding=padding), nn.ReLU()]"
        }),
        "ordinary convolutions in the decoder": Edit({"nn.ConvTranspose2d(": "nn.Conv2d("}),
        "no padding": Edit({"padding = kernel_size // 2": "padding = 0"}),
        "max pooling": Edit({"nn.AvgPool2d(2)": "nn.MaxPool2d(2)"}),
        "upsampling after the transposed convolution": Edit({
            "nn.Upsample(scale_factor=2),\n                nn.ReLU(),\n                " + PADDED:
            "nn.ReLU(),\n                " + PADDED + "\n                nn.Upsample(scale_factor=2),"
        }),
        "the decoder built in the encoder's order": Edit(
            {"decoder = [\n": "decoder = decoder + [\n", "            ] + decoder\n": "            ]\n"}
        ),
        "forward skips the decoder's last layer": Edit({"return self.decoder(self.encoder(x))": "return self.decoder[:-1](self.encoder(x))"}),
        "only the first two stages": hidden(Edit({"for width in hid_channels:": "for width in hid_channels[:2]:"})),
        "a kernel size of 3 in the decoder whatever the encoder's": hidden(
            Edit({PADDED: "nn.ConvTranspose2d(width, channels, 3, padding=1),"})
        ),
    },
    reuse={
        "subclassing the library's model": Cell("""
class AutoEncoder(models.AutoEncoder):
    def __init__(self, in_channels=1, hid_channels=(16, 32), code_channels=4, kernel_size=3):
        super().__init__(in_channels, hid_channels, code_channels, kernel_size)"""),
        "the library model's halves": """
reference = models.AutoEncoder(in_channels, hid_channels, code_channels, kernel_size)
self.encoder, self.decoder = reference.encoder, reference.decoder""",
        "the library's builders": """
self.encoder = models.conv_encoder(in_channels, hid_channels, code_channels, kernel_size)
self.decoder = models.conv_decoder(in_channels, hid_channels, code_channels, kernel_size)""",
        "aliasing the library's forward": Edit({
            re.compile(r"    def forward.*", re.S): "    forward = models.AutoEncoder.forward\n"
            "    encode = models.AutoEncoder.encode\n    decode = models.AutoEncoder.decode\n"
        }),
    },
)  # fmt: skip

CODE_SHAPE = Task(
    tests={"ch3-code-shape-tests": 3},
    alternatives={
        "code_shape: ceiling division": """
import math

side = image_size
for _ in range(len(hid_channels)):
    side = math.ceil(side / stride) // 2  # odd kernel, padding k // 2: (n - 1) // s + 1
side = math.ceil(side / stride)
return code_channels, side, side""",
    },
    mistakes={
        "ignoring the stride": """
side = image_size
for _ in hid_channels:
    side //= 2
return (code_channels, side, side)""",
        "no stride in the last convolution": """
side = image_size
for _ in hid_channels:
    side = ((side + 2 * (kernel_size // 2) - kernel_size) // stride + 1) // 2
return (code_channels, side, side)""",
        "pooling rounds up": CONV + "for _ in hid_channels:\n    side = -(-conv(side) // 2)\nreturn (code_channels, conv(side), conv(side))",
        "float division": CONV + "for _ in hid_channels:\n    side = conv(side) / 2\nreturn (code_channels, conv(side), conv(side))",
        "at most two stages": hidden(
            CONV + "for _ in hid_channels[:2]:\n    side = conv(side) // 2\nreturn (code_channels, conv(side), conv(side))"
        ),
    },
    reuse={
        "calling the library's code_side": """
side = models.code_side(image_size, len(hid_channels), kernel_size, stride)
return (code_channels, side, side)""",
    },
)  # fmt: skip

STRIDED = Task(
    tests={"ch3-strided-tests": 3},
    alternatives={
        "strided: the decoder read from the encoder": [
            """
p = kernel_size // 2
sizes = [in_channels, *hid_channels]
down = []
for c_in, c_out in zip(sizes, sizes[1:]):
    down += [nn.Conv2d(c_in, c_out, kernel_size, stride=2, padding=p), nn.ReLU()]
down.append(nn.Conv2d(sizes[-1], code_channels, kernel_size, padding=p))
up = []
for layer in reversed(down):
    if isinstance(layer, nn.Conv2d):
        s = layer.stride[0]
        up.append(nn.ConvTranspose2d(layer.out_channels, layer.in_channels, kernel_size, s, p, output_padding=s - 1))
    else:
        up.append(nn.ReLU())
self.encoder = nn.Sequential(*down)
self.decoder = nn.Sequential(*up)""",
            "return self.decoder(self.encoder(x))",
        ],
    },
    mistakes={
        "no output_padding": Edit({", output_padding=1)": ")"}),
        "pooling as well as strides": Edit({
            "nn.Conv2d(channels, width, kernel_size, 2, padding), nn.ReLU()]":
            "nn.Conv2d(channels, width, kernel_size, 2, padding), nn.ReLU(), nn.AvgPool2d(2)]"
        }),
        "stride 2 in the code's convolution too": Edit({
            "encoder.append(nn.Conv2d(channels, code_channels, kernel_size, 1, padding))":
            "encoder.append(nn.Conv2d(channels, code_channels, kernel_size, 2, padding))"
        }),
        "output_padding in the stride-1 transpose too": Edit({
            "nn.ConvTranspose2d(code_channels, channels, kernel_size, 1, padding)":
            "nn.ConvTranspose2d(code_channels, channels, kernel_size, 1, padding, output_padding=1)"
        }),
        "stride 1 in the decoder (sizes fixed by upsampling)": Edit({
            STRIDED_TRANSPOSE: "nn.ConvTranspose2d(width, channels, kernel_size, 1, padding), nn.Upsample(scale_factor=2),"
        }),
        "strided: a kernel size of 3 in the decoder whatever the encoder's": hidden(
            Edit({STRIDED_TRANSPOSE: "nn.ConvTranspose2d(width, channels, 3, 2, 1, output_padding=1),"})
        ),
    },
    reuse={
        "the library model, strided": """
reference = models.AutoEncoder(in_channels, hid_channels, code_channels, kernel_size, stride=2, pooling=1)
self.encoder, self.decoder = reference.encoder, reference.decoder""",
        "the library's builders, strided": """
args = (in_channels, hid_channels, code_channels, kernel_size, 2, 1)
self.encoder, self.decoder = models.conv_encoder(*args), models.conv_decoder(*args)""",
    },
)  # fmt: skip

EXERCISE = Exercise(
    "03_convolutional_autoencoders",
    {"ch3-autoencoder": AUTOENCODER, "ch3-code-shape": CODE_SHAPE, "ch3-strided": STRIDED},
)
globals().update(EXERCISE.checks())  # the fixture chapter and the harness's tests
