"""The one exception family the command line reports as a clean message (no traceback)."""


class VisionscoresError(Exception):
    """Input the pipeline cannot use; the message names the file or piece and the cause."""
