"""Logging for workflow scripts: everything to the rule's log, input errors also to the console."""

import contextlib
import logging
import os
import sys
import traceback

from astrotune.errors import InputError


@contextlib.contextmanager
def rule_logging(log_path):
    """Send stderr (also native libraries' fd 2) and logging to ``log_path``.

    An InputError inside the block is written as one line to the log and to the console, and the
    script exits with status 1. Any other exception is written to the log with its traceback (on a
    cluster the log is often all a user sees) and raised again, so Python also prints it to the console.
    """
    console_fd = os.dup(2)
    console = sys.stderr
    with open(log_path, "w", buffering=1) as log:
        os.dup2(log.fileno(), 2)
        sys.stderr = log
        logging.basicConfig(stream=log, level=logging.INFO, force=True,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        try:
            yield logging.getLogger("astrotune")
        except InputError as err:
            print(f"ERROR: {err}", file=log)
            os.write(console_fd, f"ERROR: {err}\n".encode())
            sys.exit(1)
        except Exception:
            traceback.print_exc(file=log)
            raise
        finally:
            logging.root.handlers.clear()  # they write to the log, which closes here
            sys.stderr = console
            os.dup2(console_fd, 2)
            os.close(console_fd)
