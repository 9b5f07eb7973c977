"""The synthetic sky: determinism, class counts, and classes that look like what their labels say."""

import hashlib

import numpy as np
import pytest
from PIL import Image

from astrotune.data.manifest import read_manifest
from astrotune.errors import InputError
from astrotune.io import sha256_file
from astrotune.sky import synthetic
from astrotune.sky.profiles import Psf, point_source

CLASSES = ["GALAXY", "STAR", "QSO"]
SKY = {"n_objects": 6, "class_fractions": {"GALAXY": 1, "STAR": 1, "QSO": 1}, "size": 32,
       "pixel_scale": 0.396, "seeing_fwhm": [1.0, 1.8], "sky_brightness": 20.9, "neighbour_density": 6.0}
APERTURE = 10  # pixels (4 arcsec) around the cutout centre


def render(folder, seed=7, **changes):
    """Render a small sky into ``folder``; return the manifest read back."""
    path = folder / "manifest.csv"
    synthetic.render_synthetic_sky(path, {**SKY, **changes}, CLASSES, seed)
    return read_manifest(path)


def linear_light(rgb):
    """Invert the Lupton asinh stretch: mean of the JPEG's channels -> intensity in nanomaggies."""
    mean = rgb.mean(axis=2) / 255.0
    softening = np.arcsinh(0.1 * synthetic.RGB_Q) / 0.1
    return synthetic.RGB_STRETCH / synthetic.RGB_Q * np.sinh(mean * softening)


def half_light_radius(image):
    """Radius (pixels) holding half the background-subtracted light within APERTURE of the centre."""
    centre = (image.shape[0] - 1) / 2.0
    y, x = np.indices(image.shape)
    radius = np.hypot(x - centre, y - centre)
    light = image - np.median(image[radius > APERTURE])
    order = np.argsort(radius[radius <= APERTURE])
    cumulative = np.cumsum(light[radius <= APERTURE][order])
    return float(np.interp(cumulative[-1] / 2.0, cumulative, radius[radius <= APERTURE][order]))


def core_g_minus_i(rgb):
    """g - i colour of the central 4 x 4 pixels (blue channel is g, red is i)."""
    centre = rgb.shape[0] // 2
    core = rgb[centre - 2:centre + 2, centre - 2:centre + 2].reshape(-1, 3).sum(axis=0)
    return float(-2.5 * np.log10(core[2] / core[0]))


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """A 60-object sky, each object's half-light radius and core colour measured on its JPEG."""
    manifest = render(tmp_path_factory.mktemp("sky"), seed=3, n_objects=60, size=48)
    rgbs = [np.asarray(Image.open(path), dtype=float) for path in manifest["path"]]
    manifest["r50"] = [half_light_radius(linear_light(rgb)) for rgb in rgbs]
    manifest["g_i"] = [core_g_minus_i(rgb) for rgb in rgbs]
    return manifest


def psf_half_light_radius(fwhm_arcsec):
    """Half-light radius of a noiseless point source under the given seeing, measured the same way."""
    size = 48
    psf = Psf(fwhm=fwhm_arcsec / SKY["pixel_scale"], beta=3.0)
    return half_light_radius(point_source(size, (size - 1) / 2.0, (size - 1) / 2.0, psf, 3))


def test_manifest_lists_every_image_with_its_checksum(tmp_path):
    manifest = render(tmp_path)
    assert list(manifest["id"]) == [f"syn{k:06d}" for k in range(1, 7)]
    assert set(manifest["status"]) == {"ok"} and set(manifest["attempts"]) == {0}
    for row in manifest.itertuples():
        assert row.sha256 == sha256_file(row.path)
        assert row.bytes == (tmp_path / "images" / f"{row.id}.jpg").stat().st_size
        assert Image.open(row.path).size == (32, 32)
    assert manifest["ra"].between(120, 250).all() and manifest["dec"].between(-5, 65).all()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first, again, other = (render(tmp_path / name, seed=seed)
                           for name, seed in (("a", 7), ("b", 7), ("c", 8)))
    assert list(first["sha256"]) == list(again["sha256"])
    assert first[["ra", "dec", "class"]].equals(again[["ra", "dec", "class"]])
    assert not set(first["sha256"]) & set(other["sha256"])


def test_each_object_has_its_own_seed(tmp_path):
    manifest = render(tmp_path)
    sky = synthetic.SkySettings(**SKY)
    for index in (4, 2):
        row = manifest.iloc[index - 1]
        ra, dec, jpeg = synthetic.render_object(row["class"], sky, 7, index)
        assert (ra, dec, hashlib.sha256(jpeg).hexdigest()) == (row.ra, row.dec, row.sha256)


def test_class_counts_largest_remainder():
    counts = synthetic.class_counts(240, {"GALAXY": 0.44, "STAR": 0.498, "QSO": 0.062}, CLASSES)
    assert counts == {"GALAXY": 106, "STAR": 119, "QSO": 15}
    rare = synthetic.class_counts(10, {"GALAXY": 0.98, "STAR": 0.01, "QSO": 0.01}, CLASSES)
    assert rare == {"GALAXY": 8, "STAR": 1, "QSO": 1}


def test_rendered_classes_follow_the_counts(tmp_path):
    manifest = render(tmp_path, n_objects=9, class_fractions={"GALAXY": 2, "STAR": 1, "QSO": 0.5})
    assert manifest["class"].value_counts().to_dict() == {"GALAXY": 5, "STAR": 3, "QSO": 1}


@pytest.mark.parametrize("fractions, classes, key", [
    ({"GALAXY": 0.5, "STAR": 0.5}, CLASSES, "synthetic.class_fractions"),
    ({"GALAXY": 0.5, "STAR": 0.3, "QUASAR": 0.2}, CLASSES, "synthetic.class_fractions"),
    ({"GALAXY": 0.5, "STAR": 0.3, "COMET": 0.2}, ["GALAXY", "STAR", "COMET"], "dataset.classes"),
])
def test_bad_classes_name_the_config_key(tmp_path, fractions, classes, key):
    with pytest.raises(InputError, match=key):
        synthetic.render_synthetic_sky(tmp_path / "manifest.csv", {**SKY, "class_fractions": fractions},
                                       classes, 7)
    assert not (tmp_path / "manifest.csv").exists()


def test_interrupted_run_leaves_no_manifest(tmp_path, monkeypatch):
    render_object = synthetic.render_object

    def fail_on_third(label, sky, seed, index):
        if index == 3:
            raise KeyboardInterrupt
        return render_object(label, sky, seed, index)

    monkeypatch.setattr(synthetic, "render_object", fail_on_third)
    with pytest.raises(KeyboardInterrupt):
        render(tmp_path)
    assert not (tmp_path / "manifest.csv").exists()
    assert not list((tmp_path / "images").glob(".*part"))


def test_point_sources_are_as_small_as_the_psf(measured):
    smallest, largest = psf_half_light_radius(1.0), psf_half_light_radius(1.8)
    points = measured[measured["class"].isin(["STAR", "QSO"])]
    inside = points["r50"].between(0.85 * smallest, 1.15 * largest)
    assert inside.mean() >= 0.9, points.loc[~inside, ["id", "class", "r50"]]


def test_galaxies_are_extended(measured):
    largest_psf = psf_half_light_radius(1.8)
    galaxies = measured.loc[measured["class"] == "GALAXY", "r50"]
    stars = measured.loc[measured["class"] == "STAR", "r50"]
    assert galaxies.median() > 1.2 * largest_psf
    assert galaxies.median() > 1.5 * stars.median()


def test_quasars_are_bluer_than_stars(measured):
    colour = measured.groupby("class")["g_i"].mean()
    assert colour["QSO"] < colour["STAR"] - 0.3
