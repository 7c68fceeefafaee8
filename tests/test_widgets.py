import base64
import html
import re

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest

from course_utils.widgets import browse, browser, png, sliders


def figure(value):
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.imshow([[value]], vmin=0, vmax=1)
    return fig


def picture(frame):
    """The PNG bytes and the alt text of a frame's ``<img>``."""
    match = re.fullmatch(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]*)">', frame.value)
    assert match, frame.value[:200]
    return base64.b64decode(match.group(1)), html.unescape(match.group(2))


def test_browser_links_slider_to_frames_in_the_browser():
    view = browser([figure(0.0), figure(1.0)], ["dark", "light"], description="shade")
    slider, stack = view.children
    assert slider.options == ("dark", "light") and len(stack.children) == 2
    first, second = (picture(frame)[0] for frame in stack.children)
    assert first.startswith(b"\x89PNG") and first != second
    assert view.link.source == (slider, "index")
    assert view.link.target == (stack, "selected_index")


def test_every_picture_has_a_text_alternative():
    view = browser([figure(0.0), figure(1.0)], ["dark", "light"], description="shade")
    assert [picture(f)[1] for f in view.children[1].children] == ["shade dark", "shade light"]
    alts = ['an all-dark "square"', "an all-light square"]
    view = browser([figure(0.0), figure(1.0)], ["dark", "light"], alts=alts)
    assert [picture(f)[1] for f in view.children[1].children] == alts
    with pytest.raises(ValueError, match="one alt text per frame"):
        browser([figure(0.0)], ["dark"], alts=["a", "b"])


def test_browser_nests_and_accepts_png_bytes():
    inner = browser([png(figure(0.5))], ["only"])
    outer = browser([inner], ["layer 1"])
    assert outer.children[1].children[0] is inner


@pytest.mark.parametrize(("fast", "drawn"), [("0", [0.0, 0.5, 1.0]), ("1", [0.0, 0.5])])
def test_browse_draws_every_frame_or_in_fast_mode_the_first_two(monkeypatch, fast, drawn):
    monkeypatch.setenv("COURSE_FAST_MODE", fast)
    made = []
    view = browse(lambda value: made.append(value) or figure(value), [0.0, 0.5, 1.0], "shade")
    slider, stack = view.children
    assert made == drawn and slider.options == tuple(map(str, drawn))
    assert [picture(f)[1] for f in stack.children] == [f"shade {value}" for value in drawn]


def test_browse_names_each_label_and_describes_each_picture(monkeypatch):
    monkeypatch.setenv("COURSE_FAST_MODE", "0")
    view = browse(
        figure, [0.0, 1 / 3], "shade", alt=lambda v: f"grey at {v:.0%}", name="{:.2f}".format
    )
    slider, stack = view.children
    assert slider.options == ("0.00", "0.33")
    assert [picture(f)[1] for f in stack.children] == ["grey at 0%", "grey at 33%"]


def test_browser_needs_one_label_per_frame():
    with pytest.raises(ValueError, match="one label per frame"):
        browser([figure(0.0)], ["a", "b"])


def test_image_png_enlarges_an_image_without_changing_its_pixels():
    import io

    import numpy as np
    import torch
    from PIL import Image

    from course_utils.widgets import image_png

    image = torch.tensor([[0.0, 1.0], [0.5, 0.25]])
    data = image_png(image.unsqueeze(0), scale=3)
    decoded = np.asarray(Image.open(io.BytesIO(data)))
    assert decoded.shape == (6, 6)
    expected = (image * 255).round().numpy().repeat(3, 0).repeat(3, 1)
    assert np.array_equal(decoded, expected)
    assert image_png(image, scale=3) == data


def test_sliders_show_the_text_for_their_values_and_redraw_as_they_move():
    def describe(i=28, s=2):
        return f"{i} // {s} = {i // s} <ok>"

    view = sliders(describe, i=(1, 40), s=(1, 4))
    i, s, shown = view.children
    assert (i.value, i.min, i.max, s.value, s.min, s.max) == (28, 1, 40, 2, 1, 4)
    assert shown.value == "<pre>28 // 2 = 14 &lt;ok&gt;</pre>"
    s.value = 3
    assert shown.value == "<pre>28 // 3 = 9 &lt;ok&gt;</pre>"
    assert not any(isinstance(child, widgets.Output) for child in view.children)
