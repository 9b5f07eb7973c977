"""Surface-brightness profiles on a pixel grid: Moffat point sources and PSF-convolved Sersic galaxies.

Positions and lengths are in native pixels; pixel centres sit at integer coordinates. Profiles are
evaluated on a grid ``oversample`` times finer than the pixels, then summed into pixels, and returned
with unit flux inside the stamp.
"""

from dataclasses import dataclass

import numpy as np
from astropy.modeling.models import Moffat2D, Sersic2D
from scipy.signal import fftconvolve

KERNEL_HALF_WIDTH_FWHM = 4.0


@dataclass(frozen=True)
class Psf:
    """A Moffat point-spread function: full width at half maximum (pixels) and power index beta."""

    fwhm: float
    beta: float

    @property
    def core_width(self):
        """Moffat core width gamma such that the profile has the requested FWHM."""
        return self.fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / self.beta) - 1.0))


@dataclass(frozen=True)
class SersicShape:
    """A Sersic galaxy: half-light radius along the major axis (pixels), index, ellipticity, angle (rad)."""

    r_eff: float
    n: float
    ellip: float
    theta: float


def subpixel_grid(size, oversample):
    """Coordinates ``(y, x)`` of the sub-pixel centres of a ``size`` x ``size`` stamp."""
    step = 1.0 / oversample
    axis = np.arange(size * oversample) * step - 0.5 + step / 2.0
    return np.meshgrid(axis, axis, indexing="ij")


def bin_pixels(image, oversample):
    """Sum ``oversample`` x ``oversample`` blocks of sub-pixels into pixels."""
    size = image.shape[0] // oversample
    return image.reshape(size, oversample, size, oversample).sum(axis=(1, 3))


def unit_flux(image):
    """Scale ``image`` so that its pixels sum to one."""
    return image / image.sum()


def moffat(psf, x, y, x0, y0):
    """The Moffat profile of ``psf`` centred on ``(x0, y0)``, evaluated at ``(x, y)``."""
    return Moffat2D.evaluate(x, y, 1.0, x0, y0, psf.core_width, psf.beta)


def point_source(size, x0, y0, psf, oversample):
    """A point source at ``(x0, y0)`` seen through ``psf``, unit flux."""
    y, x = subpixel_grid(size, oversample)
    return unit_flux(bin_pixels(moffat(psf, x, y, x0, y0), oversample))


def psf_kernel(psf, oversample):
    """The PSF sampled on the sub-pixel grid, odd-sized and centred, for convolution."""
    half = int(np.ceil(KERNEL_HALF_WIDTH_FWHM * psf.fwhm * oversample))
    axis = np.arange(-half, half + 1) / oversample
    y, x = np.meshgrid(axis, axis, indexing="ij")
    return unit_flux(moffat(psf, x, y, 0.0, 0.0))


def galaxy(size, x0, y0, shape, psf, oversample):
    """A Sersic galaxy at ``(x0, y0)`` convolved with ``psf``, unit flux."""
    y, x = subpixel_grid(size, oversample)
    light = Sersic2D.evaluate(x, y, 1.0, shape.r_eff, shape.n, x0, y0, shape.ellip, shape.theta)
    seen = fftconvolve(light, psf_kernel(psf, oversample), mode="same")
    return unit_flux(bin_pixels(np.clip(seen, 0.0, None), oversample))
