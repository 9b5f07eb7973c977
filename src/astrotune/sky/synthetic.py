"""The synthetic SDSS-like sky: labelled g, r, i cutouts of galaxies, stars and quasars.

Each object is rendered in nanomaggies (SDSS zero point 22.5 mag), observed with sky, photon and
read noise, turned into an RGB JPEG the way SDSS colour images are made (Lupton et al. 2004 asinh
stretch, i -> red, r -> green, g -> blue) and listed in a cutout manifest, so the synthetic sky
enters the pipeline exactly where downloaded cutouts would.

Object ``k`` draws everything but its class from its own generator, seeded by ``(seed, k)``: its
image does not depend on the other objects, nor on the order they are rendered in.
"""

import hashlib
import logging
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from astropy.visualization import make_lupton_rgb
from PIL import Image

from astrotune.data.manifest import write_manifest
from astrotune.errors import InputError
from astrotune.io import atomic_write_bytes
from astrotune.sky.profiles import Psf, SersicShape, galaxy, point_source

log = logging.getLogger(__name__)

BANDS = ("g", "r", "i")
ZERO_POINT = 22.5  # magnitude of one nanomaggy
SEEING_SCALE = {"g": 1.05, "r": 1.0, "i": 0.96}  # FWHM ~ wavelength^-0.2, relative to r
SKY_COLOUR = {"g": 0.9, "r": 0.0, "i": -0.6}  # dark-sky brightness relative to r (mag/arcsec^2)
ELECTRONS_PER_NMGY = {"g": 950.0, "r": 900.0, "i": 700.0}  # SDSS gain / nMgyPerCount
READ_NOISE = 5.0  # electrons per pixel
MOFFAT_BETA = (2.5, 4.5)
RGB_Q, RGB_STRETCH = 10.0, 0.5  # astropy's make_lupton_rgb example for SDSS frames in nanomaggies
SDSS_PIXEL_SCALE = 0.396  # arcsec; the stretch applies to nanomaggies per SDSS pixel
JPEG_QUALITY = 90
OVERSAMPLE = 3
FOOTPRINT_RA, FOOTPRINT_DEC = (120.0, 250.0), (-5.0, 65.0)  # the SDSS Legacy northern cap, roughly
NEIGHBOUR_MIN_DISTANCE = 5.0  # arcsec from the target
NEIGHBOUR_MAG = (19.0, 22.5)
# Stellar locus: (position along the locus, g-r, r-i), from F/G turn-off stars to late M dwarfs.
STELLAR_LOCUS = np.array([[0.0, 0.15, 0.00], [0.25, 0.45, 0.13], [0.5, 0.95, 0.35],
                          [0.75, 1.40, 0.75], [1.0, 1.50, 1.60]])


@dataclass(frozen=True)
class SkySettings:
    """The ``synthetic`` config section."""

    n_objects: int
    class_fractions: dict
    size: int
    pixel_scale: float
    seeing_fwhm: tuple
    sky_brightness: float
    neighbour_density: float


@dataclass(frozen=True)
class Source:
    """One source in a cutout: pixel position, r magnitude, colours, Sersic shape (None: point source)."""

    x: float
    y: float
    r_mag: float
    g_r: float
    r_i: float
    shape: SersicShape | None = None

    def flux(self, band):
        """Flux in nanomaggies in ``band``."""
        mag = {"g": self.r_mag + self.g_r, "r": self.r_mag, "i": self.r_mag - self.r_i}[band]
        return 10.0 ** ((ZERO_POINT - mag) / 2.5)


def class_counts(n_objects, class_fractions, classes):
    """Objects per class by largest remainder: they sum to ``n_objects``, each class gets >= 1."""
    classes = list(classes)
    if sorted(class_fractions) != sorted(classes):
        raise InputError("config", f"synthetic.class_fractions has keys {sorted(class_fractions)}; "
                                   f"they must be the dataset.classes {classes}")
    unknown = sorted(set(classes) - set(TARGETS))
    if unknown:
        raise InputError("config", f"dataset.classes {unknown} cannot be rendered by the synthetic sky "
                                   f"(it knows {sorted(TARGETS)})")
    if n_objects < len(classes):
        raise InputError("config", f"synthetic.n_objects = {n_objects} is fewer than the "
                                   f"{len(classes)} classes")
    total = sum(class_fractions[name] for name in classes)
    quotas = np.array([n_objects * class_fractions[name] / total for name in classes])
    counts = np.floor(quotas).astype(int)
    by_remainder = np.argsort(-(quotas - counts), kind="stable")
    counts[by_remainder[: n_objects - counts.sum()]] += 1
    for empty in np.flatnonzero(counts == 0):
        counts[np.argmax(counts)] -= 1
        counts[empty] = 1
    return dict(zip(classes, counts.tolist()))


def magnitude(rng, slope, bright, faint):
    """An r magnitude between ``bright`` and ``faint`` from number counts N(<m) ~ 10^(slope m)."""
    low, high = 10.0 ** (slope * bright), 10.0 ** (slope * faint)
    return float(np.log10(rng.uniform(low, high)) / slope)


def stellar_colours(rng):
    """``(g-r, r-i)`` of a star along the stellar locus, most of them near the blue turn-off."""
    t = rng.beta(1.5, 3.0)
    g_r = np.interp(t, STELLAR_LOCUS[:, 0], STELLAR_LOCUS[:, 1]) + rng.normal(0.0, 0.04)
    r_i = np.interp(t, STELLAR_LOCUS[:, 0], STELLAR_LOCUS[:, 2]) + rng.normal(0.0, 0.04)
    return float(g_r), float(r_i)


def quasar_colours(rng):
    """``(g-r, r-i)`` of a low-redshift, UV-excess quasar: blue and flat."""
    return float(rng.normal(0.15, 0.12)), float(rng.normal(0.12, 0.10))


def galaxy_source(rng, x, y, r_mag, pixel_scale):
    """A Sersic galaxy: bulge-like ones red and round, disc-like ones blue and flatter; size ~ brightness."""
    bulge = rng.random() < 0.45
    n = rng.uniform(2.5, 6.0) if bulge else rng.uniform(0.5, 2.5)
    ellip = rng.uniform(0.0, 0.5) if bulge else rng.uniform(0.0, 0.75)
    r_eff = np.clip(10.0 ** rng.normal(0.5 - 0.15 * (r_mag - 16.0), 0.15), 0.3, 8.0) / pixel_scale
    shape = SersicShape(r_eff=float(r_eff), n=float(n), ellip=float(ellip),
                        theta=float(rng.uniform(0.0, np.pi)))
    colour = ((0.80, 0.06), (0.40, 0.04)) if bulge else ((0.45, 0.12), (0.25, 0.06))
    g_r, r_i = (float(rng.normal(*mean_spread)) for mean_spread in colour)
    return Source(x, y, r_mag, g_r, r_i, shape)


def star(rng, x, y, pixel_scale):
    """A star target of the SDSS spectroscopic sample."""
    return Source(x, y, magnitude(rng, 0.2, 14.5, 19.5), *stellar_colours(rng))


def quasar(rng, x, y, pixel_scale):
    """A quasar target: a point source, fainter and bluer than most stars."""
    return Source(x, y, magnitude(rng, 0.6, 17.0, 20.0), *quasar_colours(rng))


def main_galaxy(rng, x, y, pixel_scale):
    """A galaxy of the SDSS main galaxy sample (r < 17.77)."""
    return galaxy_source(rng, x, y, magnitude(rng, 0.45, 14.5, 17.77), pixel_scale)


# The target of a cutout by class: (rng, x, y, pixel_scale) -> Source.
TARGETS = {"GALAXY": main_galaxy, "STAR": star, "QSO": quasar}


def neighbours(rng, sky, centre):
    """Faint field stars and galaxies scattered over the cutout, none closer to the target than 5 arcsec."""
    field = sky.size * sky.pixel_scale / 60.0
    positions = rng.uniform(-0.5, sky.size - 0.5, size=(rng.poisson(sky.neighbour_density * field ** 2), 2))
    distances = np.hypot(*(positions - centre).T) * sky.pixel_scale
    sources = []
    for x, y in positions[distances >= NEIGHBOUR_MIN_DISTANCE]:
        r_mag = magnitude(rng, 0.45, *NEIGHBOUR_MAG)
        if rng.random() < 0.5:
            sources.append(Source(float(x), float(y), r_mag, *stellar_colours(rng)))
        else:
            sources.append(galaxy_source(rng, float(x), float(y), r_mag, sky.pixel_scale))
    return sources


def sky_position(rng):
    """``(ra, dec)`` in degrees, uniform on the sphere inside the footprint."""
    ra = rng.uniform(*FOOTPRINT_RA)
    sin_dec = rng.uniform(*np.sin(np.radians(FOOTPRINT_DEC)))
    return float(ra), float(np.degrees(np.arcsin(sin_dec)))


def observe(signal, sky_level, electrons_per_nmgy, rng):
    """Add sky, photon (Poisson) and read noise; return the sky-subtracted image in nanomaggies."""
    electrons = rng.poisson((signal + sky_level) * electrons_per_nmgy) + \
        rng.normal(0.0, READ_NOISE, signal.shape)
    return electrons / electrons_per_nmgy - sky_level


def render_bands(sources, sky, seeing, beta, rng):
    """Observed g, r, i images (nanomaggies per pixel) of ``sources`` under ``seeing`` (arcsec FWHM)."""
    bands = {}
    for band in BANDS:
        psf = Psf(fwhm=seeing * SEEING_SCALE[band] / sky.pixel_scale, beta=beta)
        signal = np.zeros((sky.size, sky.size))
        for source in sources:
            if source.shape is None:
                profile = point_source(sky.size, source.x, source.y, psf, OVERSAMPLE)
            else:
                profile = galaxy(sky.size, source.x, source.y, source.shape, psf, OVERSAMPLE)
            signal += source.flux(band) * profile
        sky_mag = sky.sky_brightness + SKY_COLOUR[band]
        sky_level = 10.0 ** ((ZERO_POINT - sky_mag) / 2.5) * sky.pixel_scale ** 2
        bands[band] = observe(signal, sky_level, ELECTRONS_PER_NMGY[band], rng)
    return bands


def to_jpeg(bands, pixel_scale):
    """SDSS-style colour JPEG: asinh-stretched i, r, g as red, green, blue, north up.

    The stretch acts on surface brightness (nanomaggies per SDSS pixel), so a cutout looks equally
    bright at any pixel scale, as SkyServer's resampled cutouts do.
    """
    per_sdss_pixel = (SDSS_PIXEL_SCALE / pixel_scale) ** 2
    i, r, g = (bands[band] * per_sdss_pixel for band in ("i", "r", "g"))
    rgb = make_lupton_rgb(i, r, g, Q=RGB_Q, stretch=RGB_STRETCH)
    buffer = BytesIO()
    Image.fromarray(np.flipud(rgb)).save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return buffer.getvalue()


def render_object(label, sky, seed, index):
    """Sky position and JPEG bytes of object ``index`` of class ``label``."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
    ra, dec = sky_position(rng)
    centre = (sky.size - 1) / 2.0
    x, y = centre + rng.uniform(-0.5, 0.5, size=2)
    target = TARGETS[label](rng, x, y, sky.pixel_scale)
    seeing = rng.uniform(*sky.seeing_fwhm)
    beta = rng.uniform(*MOFFAT_BETA)
    sources = [target, *neighbours(rng, sky, centre)]
    return ra, dec, to_jpeg(render_bands(sources, sky, seeing, beta, rng), sky.pixel_scale)


def shuffled_labels(counts, seed):
    """Class labels in a seeded random order."""
    labels = np.repeat(list(counts), list(counts.values()))
    return np.random.default_rng(seed).permutation(labels).tolist()


def render_synthetic_sky(manifest_path, settings, classes, seed):
    """Render the synthetic sky: JPEGs under ``images/`` beside the manifest, then the manifest.

    Args:
        manifest_path: Manifest CSV to write; images go to its folder's ``images/``.
        settings: The ``synthetic`` config section (a mapping).
        classes: The ``dataset.classes`` list; ``class_fractions`` must have exactly these keys.
        seed: The config's seed.

    Returns:
        The manifest rows (dicts).
    """
    sky = SkySettings(**settings)
    if sky.seeing_fwhm[0] > sky.seeing_fwhm[1]:
        raise InputError("config", f"synthetic.seeing_fwhm {list(sky.seeing_fwhm)} must be [min, max]")
    counts = class_counts(sky.n_objects, sky.class_fractions, classes)
    log.info("rendering %d synthetic objects %s", sky.n_objects, counts)
    folder = Path(manifest_path).parent
    rows = []
    for index, label in enumerate(shuffled_labels(counts, seed), start=1):
        object_id = f"syn{index:06d}"
        ra, dec, jpeg = render_object(label, sky, seed, index)
        relative = f"images/{object_id}.jpg"
        atomic_write_bytes(folder / relative, jpeg)
        rows.append({"id": object_id, "ra": ra, "dec": dec, "class": label, "path": relative,
                     "status": "ok", "attempts": 0, "bytes": len(jpeg),
                     "sha256": hashlib.sha256(jpeg).hexdigest(), "error": "", "url": ""})
    write_manifest(rows, manifest_path)
    log.info("wrote %s", manifest_path)
    return rows
