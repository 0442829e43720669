"""A stand-in for urllib's response, for the download tests (no network)."""


class FakeResponse:
    """What ``urllib.request.urlopen`` returns: a context manager with ``read()``."""

    def __init__(self, payload: bytes):
        self.payload = payload

    def read(self) -> bytes:
        return self.payload

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
