"""A mapper that fails on the node (a fixture for the Hadoop engine's failure tests)."""


class ExplodingFilter:
    def __init__(self, message: str = "boom"):
        self.message = message

    def map_chunk(self, chunk, source="", offset=0, first_line=None):
        raise RuntimeError(f"{self.message} in {source}")
