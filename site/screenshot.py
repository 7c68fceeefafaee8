"""Save the first screen of a page of a built site, e.g. for the README.

    python site/screenshot.py _build/html chapters/01_transposed_convolutions docs/screenshot.png

It serves the site on a loopback port and uses Debian's Chromium, as tests/test_browser.py does.
"""

import argparse
import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from pdf import ARGS  # site/pdf.py: the same Chromium, with the same flags
from playwright.sync_api import sync_playwright


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", help="the built site, e.g. _build/html")
    parser.add_argument(
        "page", help="a page without .html, e.g. chapters/01_transposed_convolutions"
    )
    parser.add_argument("output", help="the PNG to write")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=args.site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(f"http://127.0.0.1:{server.server_port}/{args.page}.html")
        page.wait_for_load_state("networkidle")
        page.evaluate("async () => { if (window.MathJax?.startup) await MathJax.startup.promise; }")
        page.screenshot(path=args.output)
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
