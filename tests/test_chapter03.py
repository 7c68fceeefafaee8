"""Chapter 3's exercises, as tables for the harness in ``tests/exercises.py``: each test cell passes
the solution and correct answers written differently, and fails the mistakes students make (in its
visible part, or only in the hidden one) and every way of reusing the library's model."""

import re

import pytest
from exercises import Cell, Edit, Exercise, Mistake, Task, hidden

pytestmark = pytest.mark.slow

STAGE = "nn.ConvTranspose2d(width, channels, kernel_size, stride, padding, stride - 1),"
CODE_CONV = "encoder.append(nn.Conv2d(channels, code_channels, kernel_size, padding=padding))"
DESIGN = "design = dict(hid_channels={}, code_channels={}, kernel_size={}, strided={})"
CDIST = "torch.cdist(queries.flatten(1), gallery.flatten(1))"

AUTOENCODER = Task(
    tests={"ch3-autoencoder-tests": 4},
    alternatives={
        "autoencoder: the decoder read from the encoder": [
            """
p = kernel_size // 2
s = 2 if strided else 1
sizes = [in_channels, *hid_channels]
down = []
for c_in, c_out in zip(sizes, sizes[1:]):
    down += [nn.Conv2d(c_in, c_out, kernel_size, stride=s, padding=p), nn.ReLU()]
    if not strided:
        down.append(nn.AvgPool2d(2))
down.append(nn.Conv2d(sizes[-1], code_channels, kernel_size, padding=p))
up = []
for layer in reversed(down):
    if isinstance(layer, nn.Conv2d):
        t = layer.stride[0]
        up.append(nn.ConvTranspose2d(layer.out_channels, layer.in_channels, kernel_size, t, p, output_padding=t - 1))
    elif isinstance(layer, nn.AvgPool2d):
        up.append(nn.Upsample(scale_factor=2))
    else:
        up.append(nn.ReLU())
self.encoder = nn.Sequential(*down)
self.decoder = nn.Sequential(*up)""",
            "code = self.encoder(x)\nreturn self.decoder(code)",
        ],
    },
    mistakes={
        "a sigmoid at the end of the decoder": Mistake(Edit({"self.decoder = nn.Sequential(*decoder)": "self.decoder = nn.Sequential(*decoder, nn.Sigmoid())"}), match="decoder must end with a ConvTranspose2d"),
        "a ReLU after the code": Mistake(Edit({CODE_CONV: "encoder += [nn.Conv2d(channels, code_channels, kernel_size, padding=padding), nn.ReLU()]"}), match="encoder must end with a Conv2d of stride 1"),
        "ordinary convolutions in the decoder": Mistake(Edit({"nn.ConvTranspose2d(": "nn.Conv2d("}), match="decoder must end with a ConvTranspose2d"),
        "no padding": Mistake(Edit({"padding, stride = kernel_size // 2,": "padding, stride = 0,"}), match="not 7×7"),
        "max pooling": Mistake(Edit({"[nn.AvgPool2d(2)]": "[nn.MaxPool2d(2)]"}), match="0 AvgPool2d"),
        "upsampling after the transposed convolution": Mistake(Edit({
            "*unpool,\n                nn.ReLU(),\n                " + STAGE: "nn.ReLU(),\n                " + STAGE + "\n                *unpool,"
        }), match="decoder must end with a ConvTranspose2d"),
        "the decoder built in the encoder's order": Mistake(Edit({"decoder = [\n": "decoder = decoder + [\n", "            ] + decoder\n": "            ]\n"}), match="should map 16 channels back to 1"),
        "forward skips the decoder's last layer": Mistake(Edit({"return self.decoder(self.encoder(x))": "return self.decoder[:-1](self.encoder(x))"}), match="shape \\(4, 16, 28, 28\\)"),
        "strided: no output_padding": Mistake(Edit({STAGE: STAGE.replace(", stride - 1)", ")")}), match="needs output_padding=1"),
        "strided: pooling as well as strides": Mistake(Edit({"([], []) if strided else ": "([nn.AvgPool2d(2)], [nn.Upsample(scale_factor=2)]) if strided else "}), match="no pooling or upsampling"),
        "strided: stride 2 in the code's convolution too": Mistake(Edit({CODE_CONV: CODE_CONV.replace("padding=padding))", "stride, padding))")}), match="3 convolutions of stride 2, not 2"),
        "strided=True ignored": Mistake(Edit({"padding, stride = kernel_size // 2, 2 if strided else 1": "padding, stride = kernel_size // 2, 1\n        strided = False"}), match="no pooling or upsampling"),
        "only the first two stages": hidden(Edit({"for width in hid_channels:": "for width in hid_channels[:2]:"}), match="2 AvgPool2d"),
        "a kernel size of 3 in the decoder whatever the encoder's": hidden(Edit({STAGE: "nn.ConvTranspose2d(width, channels, 3, stride, 1, stride - 1),"}), match="with the same kernel size"),
    },
    reuse={
        "subclassing the library's model": Cell("""
class AutoEncoder(models.AutoEncoder):
    def __init__(self, in_channels=1, hid_channels=(16, 32), code_channels=4, kernel_size=3, strided=False):
        super().__init__(in_channels, hid_channels, code_channels, kernel_size, 1 + strided, 2 - strided)"""),
        "the library model's halves": """
shape = dict(stride=2, pooling=1) if strided else {}
reference = models.AutoEncoder(in_channels, hid_channels, code_channels, kernel_size, **shape)
self.encoder, self.decoder = reference.encoder, reference.decoder""",
        "the library's builders": """
args = (in_channels, hid_channels, code_channels, kernel_size, 1 + strided, 2 - strided)
self.encoder, self.decoder = models.conv_encoder(*args), models.conv_decoder(*args)""",
        "aliasing the library's forward": Edit({
            re.compile(r"    def forward.*", re.S): "    forward = models.AutoEncoder.forward\n"
            "    encode = models.AutoEncoder.encode\n    decode = models.AutoEncoder.decode\n"
        }),
    },
)  # fmt: skip

DESIGN_TASK = Task(
    tests={"ch3-design-tests": 3},
    alternatives={  # every design that meets the requirements passes
        "four poolings, 12 maps of 2 × 2": "design = {'hid_channels': [8, 8, 16, 16], 'code_channels': 12, 'kernel_size': 5, 'strided': False}",
        "three poolings, 3 maps of 4 × 4": DESIGN.format("(8, 8, 8)", 3, 3, False),
        "four strides, 12 maps of 2 × 2": DESIGN.format("[4, 8, 16, 32]", 12, 5, True),
        "five poolings, 48 maps of 1 × 1": DESIGN.format("(8, 8, 16, 16, 32)", 48, 1, False),
    },
    mistakes={
        "two stages and 12 maps (8 × 8 sides, 768 numbers)": Mistake(DESIGN.format("(16, 32)", 12, 3, True), match="768 numbers, not 48"),
        "48 code channels on two stages (48 maps, not 48 numbers)": Mistake(DESIGN.format("(16, 32)", 48, 3, False), match="3072 numbers, not 48"),
        "3 maps, one halving too few (8 × 8 sides)": Mistake(DESIGN.format("(16, 32)", 3, 3, True), match="192 numbers, not 48"),
        "an even kernel": Mistake(DESIGN.format("(16, 32, 32)", 3, 4, True), match="kernel_size must be odd"),
        "a side halved once too often (2 × 2 sides, 12 numbers)": Mistake(DESIGN.format("(8, 8, 8, 8)", 3, 3, True), match="12 numbers, not 48"),
        "no design": Mistake("pass", match="design should be a dict"),
    },
)  # fmt: skip

RETRIEVAL = Task(
    tests={"ch3-retrieval-tests": 3},
    alternatives={
        "squared distances, argsort": """
q, g = queries.reshape(len(queries), -1), gallery.reshape(len(gallery), -1)
squared = (q**2).sum(1, keepdim=True) - 2 * q @ g.T + (g**2).sum(1)
return squared.argsort(dim=1)[:, :k]""",
        "a loop over the queries": """
flat = gallery.flatten(1)
rows = [((flat - q.flatten()) ** 2).sum(1).topk(k, largest=False).indices for q in queries]
return torch.stack(rows)""",
        "sort, then slice": f"return {CDIST}.sort(dim=1).indices[:, :k]",
    },
    mistakes={
        "the farthest, not the nearest": Mistake(f"return {CDIST}.topk(k, dim=1).indices", match="not the k nearest"),
        "distances, not indices": Mistake(f"return {CDIST}.topk(k, dim=1, largest=False).values", match="not distances"),
        "only the first channel": Mistake("return torch.cdist(queries[:, 0].flatten(1), gallery[:, 0].flatten(1)).topk(k, dim=1, largest=False).indices", match="not the k nearest"),
        "skips the nearest, as if each query were in the gallery": Mistake(f"return {CDIST}.topk(k + 1, dim=1, largest=False).indices[:, 1:]", match="not the k nearest"),
        "cosine similarity, not Euclidean distance": Mistake("""
q = queries.flatten(1) / queries.flatten(1).norm(dim=1, keepdim=True)
g = gallery.flatten(1) / gallery.flatten(1).norm(dim=1, keepdim=True)
return (q @ g.T).topk(k, dim=1).indices""", match="not the k nearest"),
        "sorted along the gallery's neighbours of each item, the wrong axis": Mistake(f"return {CDIST}.argsort(dim=0)[:k].T", match="shape \\(30, 5\\)"),
    },
)  # fmt: skip

EXERCISE = Exercise(
    "03_convolutional_autoencoders",
    {"ch3-autoencoder": AUTOENCODER, "ch3-design": DESIGN_TASK, "ch3-retrieval": RETRIEVAL},
)
globals().update(EXERCISE.checks())  # the fixture chapter and the harness's tests
