"""Source and target of pretraining must not share objects: by id, and by position where both have one.

A base pretrained on objects of the study's own data set has seen its validation (and test) objects,
so its fine-tuned accuracy would be optimistic. Two packed data sets share an object when their ids
are equal in the same id namespace (``sources.id_namespace``), or when their RA/Dec lie within
``tolerance_arcsec`` of each other (only rows with finite RA and Dec in both data sets).
"""

from dataclasses import dataclass

import numpy as np

from astrotune.errors import InputError

TOLERANCE_ARCSEC = 1.0


@dataclass(frozen=True)
class Overlap:
    """Objects of the target that the source shares: the target's ids matched by id and by position."""

    by_id: tuple
    by_position: tuple

    @property
    def shared(self):
        """Target ids shared either way, sorted."""
        return tuple(sorted(set(self.by_id) | set(self.by_position)))


def _unit_vectors(ra, dec):
    ra, dec = np.radians(np.asarray(ra, dtype=float)), np.radians(np.asarray(dec, dtype=float))
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=1)


def position_matches(target_ra, target_dec, source_ra, source_dec, tolerance_arcsec=TOLERANCE_ARCSEC):
    """Indices of target rows with a source row within ``tolerance_arcsec`` (rows with NaN skipped)."""
    from scipy.spatial import cKDTree

    target_ok = np.isfinite(target_ra) & np.isfinite(target_dec)
    source_ok = np.isfinite(source_ra) & np.isfinite(source_dec)
    if not target_ok.any() or not source_ok.any():
        return np.array([], dtype=int)
    tree = cKDTree(_unit_vectors(np.asarray(source_ra)[source_ok], np.asarray(source_dec)[source_ok]))
    chord = 2 * np.sin(np.radians(tolerance_arcsec / 3600) / 2)
    distances, _ = tree.query(_unit_vectors(np.asarray(target_ra)[target_ok], np.asarray(target_dec)[target_ok]),
                              distance_upper_bound=chord)
    return np.flatnonzero(target_ok)[np.isfinite(distances)]


def find_overlap(target, source, target_namespace="", source_namespace="", tolerance_arcsec=TOLERANCE_ARCSEC):
    """The ``Overlap`` of two packed data sets (``store.PackedDataset`` or anything with ids, ra, dec)."""
    by_id = ()
    if target_namespace == source_namespace:
        by_id = tuple(sorted(set(map(str, target.ids)) & set(map(str, source.ids))))
    rows = position_matches(target.ra, target.dec, source.ra, source.dec, tolerance_arcsec)
    by_position = tuple(sorted(str(target.ids[i]) for i in rows))
    return Overlap(by_id, by_position)


def check_no_overlap(target, source, target_name, source_name, target_namespace="", source_namespace="",
                     tolerance_arcsec=TOLERANCE_ARCSEC):
    """Raise InputError (one line) when the source shares objects with the target; returns the Overlap.

    Args:
        target, source: the packed data sets (ids, ra, dec).
        target_name, source_name: their names (the study's ``dataset.name`` and ``pretrain.source``'s).
        target_namespace, source_namespace: their ``sources.id_namespace``.
    """
    overlap = find_overlap(target, source, target_namespace, source_namespace, tolerance_arcsec)
    if overlap.shared:
        example = ", ".join(overlap.shared[:3])
        raise InputError("pretrain.source", f"pretraining source {source_name} and target {target_name} share "
                         f"{len(overlap.shared)} object(s) ({len(overlap.by_id)} by id, {len(overlap.by_position)} "
                         f"by position within {tolerance_arcsec:g} arcsec; e.g. {example}); pretrain on other "
                         "objects (another seed, catalog or folder)")
    return overlap


def check_packed_files(source_path, target_path, provenance):
    """``check_no_overlap`` of two packed HDF5 data sets (ids and positions only; no images are read),
    named and namespaced as ``pretrain_plan.pretrain_provenance`` records them."""
    from astrotune.data.store import read_dataset

    source = read_dataset(source_path, with_images=False)
    target = read_dataset(target_path, with_images=False)
    return check_no_overlap(target, source, provenance["target"], provenance["source"],
                            provenance.get("target_namespace", ""), provenance.get("source_namespace", ""))
