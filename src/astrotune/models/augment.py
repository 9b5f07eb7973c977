"""Training-time augmentation as Keras preprocessing layers, and the 8 dihedral views for TTA.

The augmentation block sits between the classifier's input and its preprocessing. Every layer in it
is active only in training (Keras passes ``training=False`` in ``predict`` and ``evaluate``), so a
saved model predicts the same on the same input every time.
"""

from dataclasses import dataclass

import numpy as np

FILL_MODE = "reflect"  # mirrors the sky at the border instead of inventing a black edge


@dataclass(frozen=True)
class AugmentationSettings:
    """Config section ``training.augmentation``.

    Attributes:
        dihedral: random 90-degree rotations and flips (the sky's exact symmetries).
        rotate: random rotation by any angle.
        translate: largest shift, as a fraction of the image side.
        zoom: largest zoom in or out, as a fraction of the image side.
        gain: per-channel multiplicative jitter, factors in ``1 +- gain``.
        brightness: additive brightness jitter, as a fraction of the 0..255 range.
        flip: random horizontal and vertical flips, each with probability 0.5.
        rotate_degrees: random rotation by up to +- this many degrees (used when rotate is off).
        shear: largest random shear along each axis (Keras RandomShear factor).
    """

    dihedral: bool = False
    rotate: bool = False
    translate: float = 0.0
    zoom: float = 0.0
    gain: float = 0.0
    brightness: float = 0.0
    flip: bool = False
    rotate_degrees: float = 0.0
    shear: float = 0.0

    @property
    def active(self):
        """True when any augmentation is switched on."""
        return any((self.dihedral, self.rotate, self.translate, self.zoom, self.gain, self.brightness, self.flip,
                    self.rotate_degrees, self.shear))

    @property
    def dihedral_only(self):
        """True when the only augmentation is the dihedral group (its 8 views can be enumerated)."""
        return self.dihedral and self == AugmentationSettings(dihedral=True)


def augmentation_block(settings, seed, dihedral=True):
    """A ``keras.Sequential`` named ``augmentation`` with the configured layers, or None when off.

    Args:
        settings: AugmentationSettings.
        seed: base seed; each layer gets its own, so runs with the same seed augment identically.
        dihedral: include the ``RandomDihedral`` layer when ``settings.dihedral``. Training leaves it
            out: its input pipeline draws the view of each image in each epoch from (seed, epoch,
            position) (``pipeline.epoch_views``), the same draw a dihedral feature cache uses.
    """
    import keras

    from astrotune.models.layers import RandomChannelGain, RandomDihedral

    layers = []
    if settings.dihedral and dihedral:
        layers.append(RandomDihedral(seed=seed, name="dihedral"))
    if settings.flip:
        layers.append(keras.layers.RandomFlip("horizontal_and_vertical", seed=seed + 6, name="flip"))
    if settings.rotate or settings.rotate_degrees:
        factor = 0.5 if settings.rotate else settings.rotate_degrees / 360
        layers.append(keras.layers.RandomRotation(factor, fill_mode=FILL_MODE, seed=seed + 1, name="rotate"))
    if settings.shear:
        layers.append(keras.layers.RandomShear(settings.shear, settings.shear, fill_mode=FILL_MODE, seed=seed + 7,
                                               name="shear"))
    if settings.translate:
        layers.append(keras.layers.RandomTranslation(settings.translate, settings.translate,
                                                     fill_mode=FILL_MODE, seed=seed + 2, name="translate"))
    if settings.zoom:
        layers.append(keras.layers.RandomZoom(settings.zoom, fill_mode=FILL_MODE, seed=seed + 3, name="zoom"))
    if settings.gain:
        layers.append(RandomChannelGain(settings.gain, seed=seed + 4, name="gain"))
    if settings.brightness:
        layers.append(keras.layers.RandomBrightness(settings.brightness, value_range=(0, 255),
                                                    seed=seed + 5, name="brightness"))
    return keras.Sequential(layers, name="augmentation") if layers else None


def dihedral_views(images):
    """The 8 images of each image under the symmetries of the square, as 8 arrays (N, H, W, C)."""
    images = np.asarray(images)
    views = []
    for transposed in (images, images.transpose(0, 2, 1, 3)):
        for rotation in range(4):
            views.append(np.rot90(transposed, rotation, axes=(1, 2)))
    return views


def predict_tta(model, images, batch_size=64):
    """Class probabilities averaged over the 8 dihedral views of every image."""
    return np.mean([model.predict(view, batch_size=batch_size, verbose=0) for view in dihedral_views(images)],
                   axis=0)
