"""What ``astrotune predict`` may read and write: it never replaces or deletes a file it did not create.

Inputs must be regular files or folders (a FIFO or device is refused without being opened). The
output CSV must be new or a regular file that is none of the inputs (resolved paths compared), not
inside the input folder or the cutouts folder, in an existing writable folder. The cutouts folder
must be new, empty or one that an earlier run journaled (``sky.journal.claim_folder``).
"""

import os
import stat
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from astrotune.errors import InputError
from astrotune.sky.journal import claim_folder


def check_input(path, what):
    """``path`` when it is a regular file or a folder; InputError naming ``what`` otherwise (not opened)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(path, f"{what} does not exist") from None
    except OSError as err:
        raise InputError(path, f"{what} cannot be read ({err.strerror})") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise InputError(path, f"{what} is not a regular file or folder (a FIFO, device or socket)")
    return path


def check_output(output, inputs, folders=()):
    """Refuse an output that would replace or land among ``inputs``; probe that its folder is writable.

    Args:
        output: the CSV to write.
        inputs: files and folders read by this run (the model, the input).
        folders: further folders the output must not be inside (the cutouts folder).
    """
    output = Path(output)
    if output.is_symlink():
        raise InputError(output, "-o: is a symbolic link; give the path of a new or regular file")
    if output.exists() and not output.is_file():
        raise InputError(output, "-o: exists and is not a regular file (a folder, FIFO or device)")
    resolved = output.resolve()
    for path in inputs:
        source = Path(path).resolve()
        if resolved == source:
            raise InputError(output, f"-o: is the input {path}; choose another file name")
        if source.is_dir() and resolved.is_relative_to(source):
            raise InputError(output, f"-o: is inside the input folder {path}; write it elsewhere")
    for folder in folders:
        if resolved.is_relative_to(Path(folder).resolve()):
            raise InputError(output, f"-o: is inside the cutouts folder {folder}; write it elsewhere")
    probe_writable(output)
    return output


def probe_writable(output):
    """Create and remove a temp file beside ``output``, so a bad folder fails before any prediction."""
    parent = output.parent
    if not parent.is_dir():
        raise InputError(output, f"-o: folder {parent} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".probe", dir=parent)
    except OSError as err:
        raise InputError(output, f"-o: cannot write in {parent} ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(probe)


def cutouts_folder(output, cutouts, inputs):
    """The folder for fetched cutouts (default ``<output>_cutouts``); it must be none of the inputs."""
    output = Path(output)
    folder = Path(cutouts) if cutouts else output.with_name(output.stem + "_cutouts")
    resolved = folder.resolve()
    for path in inputs:
        if Path(path).resolve() in (resolved, *resolved.parents):
            raise InputError(folder, f"--cutouts: is the input {path} or inside it; choose a new folder")
    return claim_folder(folder, create=False)


def check_url(url):
    """A SkyServer base URL: http(s) with a host."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname
    except ValueError:
        host = None
    if not host or parts.scheme not in ("http", "https"):
        raise InputError("--skyserver-url", f"{url!r} is not an http:// or https:// URL with a host")
    return str(url)
