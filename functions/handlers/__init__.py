"""The Lambda functions' entry points. Importing one is the function's init, so this package
pauses Python's garbage collector for it: an import makes some 50,000 objects that live as
long as the container and under 600 that are garbage, yet the collector's passes over them were
an eighth of the API's cold import (docs/performance.md). Every handler module ends its import
with `ready()`; `make bundle-check` fails one that does not. (One whose import fails leaves it
paused: that container answers every call with the import's error and runs nothing else.)"""

import gc

gc.disable()


def ready() -> None:
    """The import is done: what it made is set aside for good (the collector's later passes
    skip it), and the collector runs again."""
    gc.freeze()
    gc.enable()
