"""The paper's Tables 2-5 from our models and results; beside the paper's printed values when the
study reproduces the paper's design (Tables 2 and 3, the architectures' counts, always do).

The paper truncates: a count printed "6.14K" means 6,140 <= n < 6,150 and a ratio printed "0.13"
means 0.13 <= r < 0.14. Every cell of Tables 2-5 follows this one rule at the precision the paper
prints in that cell (Table 3 prints 6,147 as "6.1K" for ResNet50 and "6.14K" for Xception), so a
cell "matches" when our exact number truncated to the paper's printed digits equals the paper's text.
"""

import math
from decimal import Decimal
from fractions import Fraction

import pandas as pd

from astrotune.io import atomic_path
from astrotune.models import paper
from astrotune.reporting import results as runs

UNITS = {"": 1, "K": 10**3, "M": 10**6}
MATCHES, DIFFERS, NOT_IN_PAPER = "matches", "differs", "not in paper"
RESULT_COLUMNS = ("arch", "layers", "trainable_params", "total_params", "total_layers", "val_accuracy")
REPORTED_ON = {True: "test (layers chosen on validation)", False: "validation (the split the layers were chosen on)"}


def _printed(text):
    """(suffix, decimals, lower bound, width) of a printed number such as "6.14K" or "0.5"."""
    suffix = text[-1] if text[-1] in "KM" else ""
    mantissa = Decimal(text[: len(text) - len(suffix)])
    decimals = max(0, -mantissa.as_tuple().exponent)
    unit = UNITS[suffix]
    return suffix, decimals, Fraction(mantissa) * unit, Fraction(unit, 10**decimals)


def _print_units(units, decimals, suffix):
    """``units`` counted in steps of 10**-decimals, printed with ``decimals`` decimals and a suffix."""
    whole, fraction = divmod(units, 10**decimals)
    return f"{whole}.{fraction:0{decimals}d}{suffix}" if decimals else f"{whole}{suffix}"


def matches_printed(value, text):
    """True when ``value`` truncated to the digits of ``text`` (e.g. "6.14K", "0.13") equals it."""
    _, _, lower, width = _printed(text)
    return lower <= Fraction(value) < lower + width


def format_like(value, text):
    """``value`` printed with the unit and decimals of the paper's ``text``, truncated."""
    suffix, decimals, _, width = _printed(text)
    return _print_units(math.floor(Fraction(value) / width), decimals, suffix)


def format_count(value, digits=3):
    """A count truncated to ``digits`` significant digits with K/M suffix: 6147 -> "6.14K"."""
    suffix = "M" if value >= 10**6 else "K" if value >= 10**3 else ""
    decimals = max(0, digits - len(str(value // UNITS[suffix])))
    return _print_units(value * 10**decimals // UNITS[suffix], decimals, suffix)


def architecture_summary(arch, schedule, n_classes, input_shape, head=None):
    """Trainable parameters for every trainable-layer count of ``arch`` (weights=None).

    Counts do not depend on the weights or the input size, except that EfficientNetB* with
    ImageNet weights gain one Normalization layer (non-trainable statistics) at the start of the
    base (341 layers instead of 340), which leaves every "last N layers" count unchanged.

    Args:
        arch: a key of ``schedules.ARCHITECTURES``.
        schedule: the configured trainable-layer counts; these rows are counted by
            ``set_trainable_last_layers`` + ``count_params`` exactly as training does.
        n_classes: units of the softmax head.
        input_shape: (height, width, channels) of the classifier's input.
        head: ``heads.HeadSettings`` of the study's classifier (None: GAP + Dense softmax).

    Returns:
        DataFrame with one row per count 0..total_layers: arch, layers_trainable,
        trainable_params, total_params, total_layers, base_params, features, scheduled.
    """
    from astrotune.models.trainable import count_params, set_trainable_last_layers
    from astrotune.models.zoo import build_classifier

    model, base = build_classifier(arch, n_classes, input_shape, "none", head=head)
    total_layers = len(base.layers)
    set_trainable_last_layers(model, base, total_layers)
    per_layer = [sum(math.prod(w.shape) for w in layer.trainable_weights) for layer in base.layers]
    _, _, total = count_params(model)
    base_params = base.count_params()
    head = total - base_params
    counts = {n: head + sum(per_layer[total_layers - n:]) for n in range(total_layers + 1)}
    for n in schedule:
        set_trainable_last_layers(model, base, n)
        counts[n] = count_params(model)[0]
    return pd.DataFrame({
        "arch": arch,
        "layers_trainable": list(counts),
        "trainable_params": list(counts.values()),
        "total_params": total,
        "total_layers": total_layers,
        "base_params": base_params,
        "features": base.output.shape[-1],
        "scheduled": [n in schedule for n in counts],
    })


def _head_classes(total, base_params, features):
    """Number of classes k of a Dense(k) head that makes ``total`` parameters, or None."""
    k, rest = divmod(total - base_params, features + 1)
    return k if rest == 0 and k > 0 else None


def _architectures(frame):
    """Architectures of a summary/results frame, in order of first appearance."""
    return list(dict.fromkeys(frame["arch"]))


def table2(summaries):
    """Table 2: layers and parameters per architecture, beside the paper's, flagged per cell.

    Args:
        summaries: concatenated ``architecture_summary`` frames.
    """
    rows = []
    for arch in _architectures(summaries):
        first = summaries[summaries["arch"] == arch].iloc[0]
        layers, total = int(first["total_layers"]), int(first["total_params"])
        base_params, features = int(first["base_params"]), int(first["features"])
        row = {"arch": arch, "layers": layers, "parameters": total,
               "paper_layers": pd.NA, "paper_parameters": pd.NA,
               "layers_check": NOT_IN_PAPER, "parameters_check": NOT_IN_PAPER, "note": ""}
        if arch in paper.TABLE2:
            paper_layers, paper_total = paper.TABLE2[arch]
            row |= {"paper_layers": paper_layers, "paper_parameters": paper_total,
                    "layers_check": MATCHES if layers == paper_layers else DIFFERS,
                    "parameters_check": MATCHES if total == paper_total else DIFFERS}
            notes = []
            if layers != paper_layers:
                notes.append(f"paper layers {paper_layers}, ours {layers}")
            if total != paper_total:
                ours_k = _head_classes(total, base_params, features)
                paper_k = _head_classes(paper_total, base_params, features)
                notes.append(f"paper total matches a {paper_k}-class head (ours: {ours_k}-class head)"
                             if paper_k else f"paper total {paper_total:,} matches no Dense head on this base")
            row["note"] = "; ".join(notes)
        rows.append(row)
    return _with_int_columns(pd.DataFrame(rows), ["paper_layers", "paper_parameters"])


def table3(summaries):
    """Table 3: trainable parameters at each scheduled trainable-layer count, beside the paper's.

    Our count is printed at the precision of the paper's cell (3 significant digits, truncated,
    where the paper has no cell); a differing cell is checked against every layer count.
    """
    rows = []
    for arch in _architectures(summaries):
        curve = summaries[summaries["arch"] == arch]
        total_layers = int(curve["total_layers"].iloc[0])
        printed = dict(paper.TABLE3.get(arch, ()))
        scheduled = curve[curve["scheduled"]].sort_values("layers_trainable")
        for step, (layers, params) in enumerate(zip(scheduled["layers_trainable"], scheduled["trainable_params"])):
            layers, params = int(layers), int(params)
            text = printed.get(layers)
            row = {"arch": arch, "step": f"BM{step}", "layers": layers, "trainable_params": params,
                   "P": format_count(params), "paper_P": "", "check": NOT_IN_PAPER, "note": ""}
            if text is not None:
                row |= {"P": format_like(params, text), "paper_P": text,
                        "check": MATCHES if matches_printed(params, text) else DIFFERS}
                if row["check"] == DIFFERS:
                    row["note"] = _explain_cell(arch, layers, params, text, curve, total_layers)
            rows.append(row)
    return pd.DataFrame(rows)


def _explain_cell(arch, layers, params, text, curve, total_layers):
    """Why a Table 3 cell differs: which layer counts, if any, the paper's value belongs to."""
    hits = [int(n) for n, p in zip(curve["layers_trainable"], curve["trainable_params"]) if matches_printed(p, text)]
    if not hits:
        return (f"paper {text} matches no trainable-layer count of {arch} (0-{total_layers}); "
                f"L={layers} gives {params:,}")
    return f"paper {text} matches L={', '.join(map(str, hits))}, not L={layers} ({params:,})"


def _check_results(results, metric):
    """Raise ValueError unless ``results`` has the columns (those of the selection ``metric`` too) and one row
    per (arch, layers) and seed, if any."""
    runs.check_selection_metric(metric)
    missing = [c for c in dict.fromkeys([*RESULT_COLUMNS, f"val_{metric}"]) if c not in results.columns]
    if missing:
        raise ValueError(f"results lack column(s) {', '.join(missing)}")
    run = ["arch", "layers"] + (["seed"] if "seed" in results else [])
    duplicated = results[results.duplicated(run)]
    if len(duplicated):
        raise ValueError(f"results repeat ({', '.join(run)}): {duplicated[run].values.tolist()}")
    if results["val_accuracy"].isna().any():
        raise ValueError(f"results lack val_accuracy for {results[results['val_accuracy'].isna()]['arch'].tolist()}")


def table4(results, paper_comparison=True, metric="accuracy"):
    """Table 4: baseline (0 trainable layers) accuracy per architecture; the selection ``metric``'s columns
    first (``results.accuracy_columns``).

    Args:
        results: ``results.collect_metrics`` frame (one row per training run; a model's row is the
            study seed's run, with its accuracy over seeds beside it: ``results.over_seeds``).
        paper_comparison: put the paper's values beside ours (only for a study that reproduces the
            paper's design; otherwise the numbers are not comparable and are left out).
    """
    _check_results(results, metric)
    test, models = runs.has_test_split(results), runs.over_seeds(results)
    replicated = runs.seeds_replicated(models)
    rows = []
    for arch in _architectures(results):
        baseline = models[(models["arch"] == arch) & (models["layers"] == 0)]
        paper_text, paper_accuracy = paper.TABLE4.get(arch, ("", pd.NA))
        model = baseline.iloc[0] if len(baseline) else {}
        row = {"arch": arch, "weights": _origin(model), "trainable_params": pd.NA, "P": ""}
        row |= runs.accuracy_columns(model, test, replicated, metric)
        row["note"] = "" if len(baseline) else "no baseline: 0 trainable layers is not in the schedule"
        if len(baseline):
            params = int(model["trainable_params"])
            row |= {"trainable_params": params, "P": format_like(params, paper_text) if paper_text else format_count(params)}
        if paper_comparison:
            check = NOT_IN_PAPER
            if paper_text and not baseline.empty:
                check = MATCHES if matches_printed(row["trainable_params"], paper_text) else DIFFERS
            row |= {"paper_P": paper_text, "paper_accuracy": paper_accuracy, "params_check": check}
        rows.append(row)
    return _with_int_columns(pd.DataFrame(rows), ["trainable_params", "n_seeds"])


def table5(results, paper_comparison=True, comparison=None, metric="accuracy"):
    """Table 5: per architecture, the trainable-layer count chosen on the validation ``metric`` (accuracy or
    balanced_accuracy, its mean over seeds; ties: fewest layers; named in ``selected_on``), with its tuning
    ratios and, when the study has a test split, that model's held-out test scores (``metric`` first).

    ``comparison`` (``uncertainty.compare_prediction_files`` of the chosen models on validation ``metric``)
    adds ``val_indistinguishable_from_top``: True where the paired-bootstrap interval of the
    score difference to the top architecture contains 0; ``cache_refusals`` the jobs that trained in full.

    Layer Tuning Ratio = layers / total_layers, Parameter Tuning Ratio = trainable_params /
    total_params; with ``paper_comparison`` the paper's values (ratios as printed) stand beside ours.
    """
    _check_results(results, metric)
    test, best = runs.has_test_split(results), runs.select_best(results, metric)
    refused = results.assign(refused=runs.cache_refused(results)) if "cache" in results else None
    refusals = refused.groupby("arch")["refused"].sum() if refused is not None else None
    rows = []
    for arch in _architectures(results):
        row = best.loc[arch]
        entry = {"arch": arch, "weights": _origin(row), "layers": int(row["layers"]),
                 "trainable_params": int(row["trainable_params"]),
                 "layer_tuning_ratio": row["layers"] / row["total_layers"],
                 "parameter_tuning_ratio": row["trainable_params"] / row["total_params"]}
        entry |= runs.accuracy_columns(row, test, runs.seeds_replicated(best), metric)
        entry |= {"reported_on": REPORTED_ON[test], "selected_on": runs.selected_on(metric)}
        if comparison is not None:
            entry["val_indistinguishable_from_top"] = bool(comparison.loc[arch, "indistinguishable"])
        if refusals is not None:
            entry["cache_refusals"] = int(refusals[arch])
        if paper_comparison:
            reference = paper.TABLE5.get(arch, (pd.NA, pd.NA, "", "", pd.NA))
            entry |= {"paper_layers": reference[0], "paper_trainable_params": reference[1],
                      "paper_layer_tuning_ratio": reference[2], "paper_parameter_tuning_ratio": reference[3],
                      "paper_accuracy": reference[4]}
        rows.append(entry)
    frame = pd.DataFrame(rows)
    return _with_int_columns(frame, [c for c in ("paper_layers", "paper_trainable_params") if c in frame])


def _origin(row):
    """Where a model's base weights came from (``results.weights_origin``; empty when not recorded)."""
    value = row.get("weights_origin", "")
    return value if isinstance(value, str) else ""


def _with_int_columns(frame, columns):
    """Integer columns that may hold missing values as pandas' nullable Int64."""
    return frame.astype({column: "Int64" for column in columns})


def write_table(df, stem):
    """Write ``stem``.csv, .md, .tex and .html, each atomically; missing values print as empty cells."""
    printable = df.astype(object).where(df.notna(), "")
    writers = {
        ".csv": lambda path: df.to_csv(path, index=False),
        ".md": lambda path: path.write_text(printable.to_markdown(index=False) + "\n"),
        ".tex": lambda path: path.write_text(printable.to_latex(index=False, escape=True)),
        ".html": lambda path: path.write_text(printable.to_html(index=False, border=0)),
    }
    for suffix, write in writers.items():
        with atomic_path(f"{stem}{suffix}") as tmp:
            write(tmp)
