"""The command line: thin commands over the library, their output, and the wiring of the parts.

`main()` is the `reconciler` entry point.
"""

from reconciler.cli.main import main

__all__ = ["main"]
