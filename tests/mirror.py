"""A Fashion-MNIST mirror on 127.0.0.1 for the download tests: serves given files, counts requests."""

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

#: Debian's copy (dataset-fashion-mnist), which the mirror serves unless told otherwise.
DEBIAN = Path("/usr/share/datasets/fashion-mnist")
NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def debian_files() -> dict[str, bytes]:
    """The four files as Debian ships them (gzipped, though not byte for byte the originals)."""
    return {name: (DEBIAN / name).read_bytes() for name in NAMES}


class Mirror:
    """``with Mirror(files) as mirror:`` serves ``files`` (name -> bytes) at ``mirror.url``.

    ``mirror.requests`` counts the GET requests for each name; an unknown name gets a 404.
    Assign to ``mirror.files`` to change what is served. After the block the port is closed,
    so ``mirror.url`` then stands for a server that is down.
    """

    def __init__(self, files: dict[str, bytes] | None = None):
        self.files = debian_files() if files is None else files
        self.requests = Counter()
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                mirror.requests[name] += 1
                body = mirror.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __enter__(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
