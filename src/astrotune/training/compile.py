"""Build and compile a classifier for training, and reseed its random layers per epoch.
"""

import numpy as np


def compiled_model(arch, layers, n_classes, input_shape, n_train, settings, jit_compile=False):
    """Build the classifier with its last ``layers`` base layers trainable (re-initialised when
    ``settings.reinitialise``), compiled with the configured optimizer and schedule (``optim.py``),
    its learning rate decaying per base block below the head when ``settings.block_lr_decay`` is not 1."""
    from astrotune.models.augment import augmentation_block
    from astrotune.models.blocks import block_lr_factors
    from astrotune.models.trainable import set_trainable_last_layers
    from astrotune.models.zoo import build_classifier
    from astrotune.training.optim import build_optimizer

    # The dihedral view is applied by the input pipeline (loop.epoch_batches), not by a layer.
    augmentation = augmentation_block(settings.augmentation, settings.seed, dihedral=False)
    model, base = build_classifier(arch, n_classes, input_shape, settings.weights, augmentation, settings.head,
                                   reinitialise=layers if settings.reinitialise else 0,
                                   center_crop=settings.center_crop, batchnorm=settings.batchnorm)
    set_trainable_last_layers(model, base, layers)
    factors = (block_lr_factors(model, base, arch, settings.block_lr_decay) if settings.block_lr_decay != 1
               else None)
    # XLA compilation of these large graphs costs more than it saves on small data (3x slower on CPU);
    # performance.xla turns it on for GPU runs.
    compile_classifier(model, build_optimizer(settings, n_train, factors), jit_compile)
    return model


def compile_classifier(model, optimizer, jit_compile=False):
    """Compile for training with categorical cross-entropy and accuracy, and build the optimizer on
    ``model``'s trainable variables unless it is built (a suffix shares its classifier's).

    The optimizer built is ``model.optimizer``, the one ``fit`` steps: under a ``mixed_float16``
    policy Keras wraps the given optimizer in a LossScaleOptimizer with variables of its own, and a
    checkpoint saves and restores those too (building only the inner one left them to the first step,
    so a resumed job found fewer variables than it had saved and started over).

    The accuracy metric and the optimizer's variables are created here, eagerly: Keras would create
    them inside the first traced training step, and tf.function then traces the whole step a second
    time (the first epoch of a DenseNet121 suffix of 45 layers at 512 px: 7.4 s with it, 4.5 s without).
    """
    import keras

    model.compile(optimizer=optimizer, loss="categorical_crossentropy",
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], jit_compile=jit_compile)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def reseed_random_layers(model, seed, epoch):
    """Set every random layer's generator (augmentation, dropout) from (seed, epoch, layer).

    Keras does not save seed generator states with a model, so without this a resumed job would
    augment differently from an uninterrupted one.
    """
    import keras

    from astrotune.models.trainable import layers_within

    for index, layer in enumerate(layers_within(model)):
        for generator in [value for value in vars(layer).values() if isinstance(value, keras.random.SeedGenerator)]:
            value = int(np.random.default_rng([seed, epoch, index]).integers(2**31))
            generator.state.assign(np.array([value, 0], dtype=generator.state.dtype))
