import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest

from course_utils.widgets import browser, png


def figure(value):
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.imshow([[value]], vmin=0, vmax=1)
    return fig


def test_browser_links_slider_to_frames_in_the_browser():
    view = browser([figure(0.0), figure(1.0)], ["dark", "light"], description="shade")
    slider, stack = view.children
    assert slider.options == ("dark", "light") and len(stack.children) == 2
    assert bytes(stack.children[0].value).startswith(b"\x89PNG") and bytes(
        stack.children[0].value
    ) != bytes(stack.children[1].value)
    links = [w for w in widgets.Widget.widgets.values() if isinstance(w, widgets.Link)]
    assert any(
        link.source == (slider, "index") and link.target == (stack, "selected_index")
        for link in links
    )


def test_browser_nests_and_accepts_png_bytes():
    inner = browser([png(figure(0.5))], ["only"])
    outer = browser([inner], ["layer 1"])
    assert outer.children[1].children[0] is inner


def test_browser_needs_one_label_per_frame():
    with pytest.raises(ValueError, match="one label per frame"):
        browser([figure(0.0)], ["a", "b"])
