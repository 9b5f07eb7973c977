"""Errors raised for bad user input; the workflow prints them without a traceback."""


class InputError(ValueError):
    """Bad input (config, catalog, image, HDF5 file, server answer), named by file and field."""

    def __init__(self, source, message):
        self.source = str(source)
        self.message = message
        super().__init__(f"{source}: {message}")


MAX_LISTED = 20


def raise_problems(source, problems, report=None, what="problem(s)"):
    """Raise one InputError listing the first ``MAX_LISTED`` problems.

    Args:
        source: File or config key named by the error.
        problems: Every problem, one line each.
        report: Optional file that receives the full list (written before raising).
        what: Noun phrase counted in the message.
    """
    from astrotune.io import atomic_path

    shown = "\n  ".join(problems[:MAX_LISTED])
    more = ""
    if len(problems) > MAX_LISTED:
        more = f"\n  ... and {len(problems) - MAX_LISTED} more"
    if report is not None:
        with atomic_path(report) as tmp:
            tmp.write_text("".join(f"{problem}\n" for problem in problems))
        more += f"\n  full list: {report}"
    raise InputError(source, f"{len(problems)} {what}:\n  {shown}{more}")
