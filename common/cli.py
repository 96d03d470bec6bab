"""One place where errors become exit codes, for every script.

    def main(argv):
        return run_main("extract.py", lambda: _extract(options))

* :class:`common.errors.InputError` (bad input: a flag, file or value): one line
  ``<script>: error: <message>`` on stderr, exit status 2, no traceback;
* ``KeyboardInterrupt``: one line, exit status 130;
* anything else is a bug: the traceback is printed and the exit status is 1.
"""

from __future__ import annotations

import sys
import traceback
from typing import Callable, Optional

from .errors import InputError, one_line

EXIT_BAD_INPUT = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130


def fail(script: str, message: object, code: int = EXIT_BAD_INPUT) -> int:
    """Print ``<script>: error: <message>`` as one line on stderr; return ``code``."""
    print(f"{script}: error: {one_line(message)}", file=sys.stderr, flush=True)
    return code


def run_main(script: str, body: Callable[[], Optional[int]]) -> int:
    """Run ``body`` and map what it raises onto an exit status (see the module docstring)."""
    try:
        code = body()
    except InputError as err:
        return fail(script, err)
    except KeyboardInterrupt:
        return fail(script, "interrupted", EXIT_INTERRUPTED)
    except Exception:  # a bug: keep the traceback for the report
        traceback.print_exc()
        return EXIT_BUG
    return 0 if code is None else int(code)
