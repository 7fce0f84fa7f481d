"""`python -m components`. It leaves through os._exit once its output is flushed: freeing the
millions of objects of a large stack one by one at exit costs a render of 10,000 routes ~0.2 s,
for nothing (mypy leaves the same way)."""

import os
import sys

from components.cli import main

code = main()
try:
    sys.stdout.flush()
    sys.stderr.flush()
except BrokenPipeError:  # the reader left (`| head`): what it wanted, it has
    pass
os._exit(code)
