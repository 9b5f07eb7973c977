"""User catalogs: read and validate a CSV of id, ra, dec, class (degrees or sexagesimal)."""

import math
import re
import warnings
from pathlib import Path

import astropy.units as u
import pandas as pd
from astropy.coordinates import Angle
from astropy.utils.exceptions import AstropyWarning

from astrotune.errors import InputError, raise_problems
from astrotune.io import atomic_path

REQUIRED = ["id", "ra", "dec", "class"]
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
OTHER_DELIMITERS = (";", "\t", "|")


def _read_table(path):
    """Read the CSV as text columns with lower-case names; raise InputError for unreadable files."""
    if not path.is_file():
        raise InputError(path, "catalog file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as err:
        raise InputError(path, f"file is empty; expected a CSV with header {','.join(REQUIRED)}") from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a readable CSV ({err})") from err
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    missing = [column for column in REQUIRED if column not in frame]
    if missing:
        header = ",".join(frame.columns)
        hint = ""
        if len(frame.columns) == 1 and any(d in header for d in OTHER_DELIMITERS):
            hint = "; the file must be comma-separated (wrong delimiter?)"
        raise InputError(path, f"missing columns {missing} in header {header!r}{hint}")
    if frame.empty:
        raise InputError(path, "catalog has a header but no rows")
    return frame


def parse_angle(text, unit, degrees_per_unit, low, high, name, high_inclusive):
    """Degrees from a number (degrees) or a sexagesimal string in ``unit``; returns (value, problem)."""
    try:
        value = float(text)
    except ValueError:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", AstropyWarning)  # e.g. minutes or seconds of 60 or more
                value = Angle(text, unit=unit).to_value(unit) * degrees_per_unit
        except AstropyWarning as warning:
            return None, f"{name} {text!r} is not a valid sexagesimal angle ({warning})"
        except (ValueError, u.UnitsError):
            return None, f"{name} {text!r} is neither a number nor a sexagesimal angle"
    inside = low <= value <= high if high_inclusive else low <= value < high
    if not (math.isfinite(value) and inside):
        closing = "]" if high_inclusive else ")"
        return None, f"{name} {text} is outside [{low:g}, {high:g}{closing}"
    return value, None


def _row_problems(row, classes, first_line_of_id, line):
    """Parsed (ra, dec) and the list of problems of one catalog row."""
    problems = []
    ident = row["id"].strip()
    if not SAFE_ID.match(ident):
        problems.append(f"id {ident!r} is not safe as a file name (letters, digits, '._+-', "
                        "at most 128, not starting with '.', '_', '+' or '-')")
    elif ident in first_line_of_id:
        problems.append(f"id {ident!r} duplicates line {first_line_of_id[ident]}")
    else:
        first_line_of_id[ident] = line
    ra, problem = parse_angle(row["ra"].strip(), u.hourangle, 15, 0, 360, "ra", high_inclusive=False)
    problems += [problem] if problem else []
    dec, problem = parse_angle(row["dec"].strip(), u.deg, 1, -90, 90, "dec", high_inclusive=True)
    problems += [problem] if problem else []
    if row["class"].strip() not in classes:
        problems.append(f"class {row['class'].strip()!r} is not one of {list(classes)}")
    return ra, dec, problems


def read_catalog(path, classes, report=None):
    """Read and validate a catalog CSV.

    Args:
        path: CSV with columns id, ra, dec, class (more columns are kept); ra/dec in degrees, or
            sexagesimal (ra in hours, e.g. ``12:30:00`` or ``12h30m00s``; dec in degrees).
        classes: the configured class names.
        report: Optional file that receives the full list of bad rows (the error shows the first 20).

    Returns:
        DataFrame with ra and dec as floats in degrees, in file order.

    Raises:
        InputError: listing the first 20 bad lines (1 is the header) with all of their problems.
    """
    path = Path(path)
    frame = _read_table(path)
    first_line_of_id, bad, coords = {}, [], []
    for index, row in enumerate(frame.to_dict("records")):
        line = index + 2
        ra, dec, problems = _row_problems(row, classes, first_line_of_id, line)
        if problems:
            bad.append(f"line {line}: " + "; ".join(problems))
        coords.append((ra, dec))
    if bad:
        raise_problems(path, bad, report, "bad row(s)")
    frame["id"] = frame["id"].str.strip()
    frame["class"] = frame["class"].str.strip()
    frame["ra"] = [ra for ra, _ in coords]
    frame["dec"] = [dec for _, dec in coords]
    return frame[REQUIRED + [c for c in frame.columns if c not in REQUIRED]]


def import_catalog(source, destination, classes, report=None):
    """Validate a user catalog and write it (ra/dec in degrees) to ``destination`` atomically."""
    catalog = read_catalog(source, classes, report)
    with atomic_path(destination) as tmp:
        catalog.to_csv(tmp, index=False)
    return catalog
