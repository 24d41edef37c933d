"""A text job: the log lines that mention ERROR, as (level, message) pairs."""

import streamjobs


class ErrorLines(streamjobs.TextJobTask):
    """Lines holding ERROR, split into the word before the first colon and the rest."""

    def mapper(self, line):
        if "ERROR" in line:
            level, _, message = line.partition(":")
            yield level.strip(), message.strip()
