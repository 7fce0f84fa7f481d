"""`python -m components`. It leaves through os._exit once its output is flushed, and the
commands leave what they built to it (cli.keep_until_exit): freeing the hundreds of thousands
of objects of a 10,000-route render one by one, on the way out of the command and then of the
interpreter, made it ~0.06 s slower (0.45 s against 0.51 s here), for nothing. mypy leaves the
same way."""

import os
import sys

from components import cli

cli.kept_until_exit = []  # nor do the commands' returns free what they built (cli.keep_until_exit)
code = cli.main()
try:
    sys.stdout.flush()
    sys.stderr.flush()
except BrokenPipeError:  # the reader left (`| head`) before the last buffered bytes: as in a command
    code = cli.BROKEN_PIPE
os._exit(code)
