"""Index a user's JPEG/PNG images into a cutout manifest (source local_images).

Two layouts: a folder with one subfolder per class (matched to the configured classes exactly, else
ignoring case; ids are the file names without extension), or a CSV listing ``path`` and ``class``
with optional ``id`` (or another id column), ``ra``, ``dec`` and ``sha256``.

Every path is confined: it is resolved (symlinks followed) and must be a regular file inside the
image folder (``local_images.path``, else the CSV's folder) or inside one of
``local_images.allowed_roots``, no larger than ``local_images.max_file_mb``. Its header is checked
against ``dataset.max_pixels`` before it is decoded and hashed. Every rejected entry is reported
with its reason (the first 20 on the console, all of them in ``report``), and nothing is written then.
"""

import hashlib
import io
import logging
import math
import os
import stat
from pathlib import Path

import pandas as pd

from astrotune.data.images import DEFAULT_MAX_PIXELS, READ_ERRORS, open_image
from astrotune.data.manifest import write_manifest
from astrotune.errors import InputError, raise_problems

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
DEFAULT_MAX_FILE_MB = 64


def index_local_images(output, classes, *, folder=None, manifest=None, id_column="id", allowed_roots=(),
                       max_file_mb=DEFAULT_MAX_FILE_MB, max_pixels=DEFAULT_MAX_PIXELS, report=None):
    """Write the cutout manifest of a folder of class subfolders or of a CSV image list.

    Args:
        output: Manifest CSV to write; its ``path`` column is relative to this file's folder.
        classes: Configured class names (dataset.classes).
        folder: Folder with one subfolder per class; with ``manifest``, the folder its paths are
            relative to (default: the manifest's folder).
        manifest: CSV with columns path, class and optionally ``id_column``, ra, dec, sha256.
        id_column: Column of ``manifest`` holding the object ids (e.g. ``objid``).
        allowed_roots: Further folders images may resolve into (besides the image folder).
        max_file_mb: Largest image file accepted, in MB.
        max_pixels: Largest image accepted, in pixels (checked from the header).
        report: File receiving the full list of rejected entries, if any.

    Returns:
        The manifest rows as a DataFrame.
    """
    if manifest:
        source = Path(manifest)
        base = Path(folder) if folder else source.parent
    elif folder:
        source = base = Path(folder)
    else:
        raise InputError("local_images", "set local_images.path (class subfolders) or local_images.manifest")
    roots = [base.resolve(), *(Path(root).expanduser().resolve() for root in allowed_roots)]
    if manifest:
        entries, problems = _read_image_list(source, base, classes, id_column)
    else:
        entries, problems = _scan_folder(source, classes, roots)
    problems += _check_ids(entries)
    problems += _check_classes_present(entries, classes)
    for entry in entries:
        problems += _check_image(entry, roots, int(max_file_mb * 1_000_000), max_pixels)
    if problems:
        raise_problems(source, problems, report, "rejected image entries or problems")
    base = Path(output).resolve().parent
    rows = pd.DataFrame([{
        "id": entry["id"], "ra": entry["ra"], "dec": entry["dec"], "class": entry["class"],
        "path": os.path.relpath(entry["resolved"], base), "status": "ok", "attempts": 0,
        "bytes": entry["bytes"], "sha256": entry["sha256"], "error": "", "url": "",
    } for entry in entries])
    write_manifest(rows, output)
    log.info("indexed %d images from %s: %s", len(rows), source, rows["class"].value_counts().to_dict())
    return rows


def listed_input(settings):
    """The file or folder named by the ``local_images`` config section (the manifest wins)."""
    if not (settings.get("manifest") or settings.get("path")):
        raise InputError("local_images", "set local_images.path (class subfolders) or local_images.manifest")
    return settings.get("manifest") or settings["path"]


def _scan_folder(folder, classes, roots):
    """Entries and problems of a folder with one subfolder per class (subfolders resolve inside ``roots``)."""
    if not folder.is_dir():
        return [], [f"{folder} is not a folder"]
    by_name = {name.lower(): name for name in classes}
    by_name.update({name: name for name in classes})
    entries, problems = [], []
    for sub in sorted(folder.iterdir()):
        if sub.name.startswith("."):
            continue
        if not sub.is_dir():
            log.info("ignoring %s: files beside the class subfolders are not images of a class", sub)
            continue
        label = by_name.get(sub.name, by_name.get(sub.name.lower()))
        if label is None:
            problems.append(f"subfolder '{sub.name}' is not one of dataset.classes {list(classes)}")
            continue
        if not any(sub.resolve().is_relative_to(root) for root in roots):
            problems.append(f"subfolder '{sub.name}' rejected: resolves to {sub.resolve()}, outside the image "
                            "folder and local_images.allowed_roots")
            continue
        for file in sorted(sub.rglob("*")):
            if file.is_dir() or file.name.startswith("."):
                continue
            where = file.relative_to(folder)
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                problems.append(f"{where}: not a .jpg/.jpeg/.png file")
                continue
            entries.append({"where": str(where), "file": file, "class": label, "id": file.stem,
                            "ra": math.nan, "dec": math.nan, "sha256": ""})
    return entries, problems


def _read_image_list(path, base, classes, id_column):
    """Entries and problems of a CSV image list; rows are named by their line number."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read image list ({err})") from err
    table.columns = [column.strip() for column in table.columns]
    required = ["path", "class"] + ([id_column] if id_column != "id" else [])
    missing = [column for column in required if column not in table]
    if missing:
        raise InputError(path, f"missing columns {missing} (has {list(table.columns)})")
    if table.empty:
        raise InputError(path, "no rows")
    entries, problems = [], []
    for index, row in table.iterrows():
        where = f"line {index + 2}"
        file = Path(row["path"].strip())
        file = file if file.is_absolute() else base / file
        ident = row[id_column].strip() if id_column in table else file.stem
        entry = {"where": f"{where} ({row['path']})", "file": file, "class": row["class"].strip(),
                 "id": ident, "sha256": row.get("sha256", "").strip().lower()}
        row_problems = []
        if not row["path"].strip():
            row_problems.append(f"{where}: column 'path' is empty")
        if entry["class"] not in classes:
            row_problems.append(f"{where}: column 'class' value {entry['class']!r} is not one of "
                                f"dataset.classes {list(classes)}")
        coords, coord_problems = _coordinates(row, where)
        entry.update(coords)
        row_problems += coord_problems
        problems += row_problems
        if not row_problems:
            entries.append(entry)
    return entries, problems


def _coordinates(row, where):
    """RA/Dec of a row in degrees (NaN when both are absent) and the problems found."""
    values = {}
    for name in ("ra", "dec"):
        text = str(row.get(name, "")).strip()
        try:
            values[name] = float(text) if text else math.nan
        except ValueError:
            return {}, [f"{where}: column '{name}' value {text!r} is not a number"]
    ra, dec = values["ra"], values["dec"]
    if math.isnan(ra) != math.isnan(dec):
        return {}, [f"{where}: columns 'ra' and 'dec' must be given together"]
    if not math.isnan(ra) and not (0 <= ra < 360 and -90 <= dec <= 90):
        return {}, [f"{where}: ra {ra} / dec {dec} outside [0, 360) / [-90, 90]"]
    return values, []


def _check_ids(entries):
    """Problems with empty, unsafe or duplicate ids."""
    problems, seen = [], {}
    for entry in entries:
        ident = entry["id"]
        if not ident or ident.startswith(".") or "/" in ident or "\\" in ident:
            problems.append(f"{entry['where']}: id {ident!r} is empty or not safe as a file name")
        elif ident in seen:
            problems.append(f"{entry['where']}: duplicate id {ident!r} (also {seen[ident]})")
        else:
            seen[ident] = entry["where"]
    return problems


def _check_classes_present(entries, classes):
    """A problem when a configured class has no image at all."""
    present = {entry["class"] for entry in entries}
    empty = [name for name in classes if name not in present]
    return [f"no images for classes {empty}"] if empty and entries else []


def confined_bytes(file, roots, max_bytes, limit="local_images.max_file_mb",
                   roots_name="the image folder and local_images.allowed_roots"):
    """The bytes of ``file`` if it resolves to a regular file inside ``roots`` of at most ``max_bytes``.

    Returns:
        (resolved path, bytes, None) or (None, None, reason of the rejection)
    """
    try:
        resolved = Path(file).resolve(strict=True)
    except FileNotFoundError:
        return None, None, "file does not exist"
    except (OSError, RuntimeError, ValueError) as err:
        return None, None, f"cannot resolve the path ({err})"
    if not any(resolved.is_relative_to(root) for root in roots):
        return None, None, f"resolves to {resolved}, outside {roots_name}"
    try:
        fd = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as err:
        return None, None, f"cannot open file ({err.strerror or err})"
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None, None, "not a regular file (a FIFO, device, socket or folder)"
        if info.st_size > max_bytes:
            return None, None, f"file is {info.st_size} bytes, more than {limit}"
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        return None, None, f"file grew beyond {limit} while read"
    return resolved, data, None


def _check_image(entry, roots, max_bytes, max_pixels):
    """Confine, hash and decode one image; fill ``resolved``, ``bytes`` and ``sha256``; return its problems."""
    where = entry["where"]
    resolved, data, reason = confined_bytes(entry["file"], roots, max_bytes)
    if reason:
        return [f"{where}: rejected: {reason}"]
    digest = hashlib.sha256(data).hexdigest()
    if entry["sha256"] and entry["sha256"] != digest:
        return [f"{where}: column 'sha256' is {entry['sha256']}, the file's is {digest}"]
    try:
        with open_image(io.BytesIO(data), where, max_pixels) as image:
            image.load()
    except InputError as err:
        return [f"{where}: {err.message}"]
    except READ_ERRORS as err:
        return [f"{where}: not a readable image ({err})"]
    entry["resolved"], entry["bytes"], entry["sha256"] = resolved, len(data), digest
    return []
