"""Adam, AdamW and SGD with a learning-rate factor per variable (``training.block_lr_decay``).

Scaling gradients would not do: Adam's step does not depend on the gradient's scale. These
optimizers scale the learning rate itself in each variable's update (and AdamW's decoupled weight
decay, which is proportional to it), on every Keras backend: TensorFlow, JAX and PyTorch all update
variable by variable through ``update_step`` for optimizers that are not Keras' own classes. A
mixed-precision ``LossScaleOptimizer`` wraps them like any optimizer. They are registered with
``keras.saving`` (``registration.LAYER_MODULES``), so a compiled ``.keras`` model loads with them.
"""

import keras
from keras import ops


class BlockLearningRates:
    """Mixin for a Keras optimizer: the variable at index i of the list it is built on learns at the
    learning rate (or schedule) times ``factors[i]``; Keras indexes its own slot variables the same way.

    Args:
        factors: one factor per variable the optimizer is built on, in order (``blocks.block_lr_factors``).
    """

    def __init__(self, *args, factors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.factors = tuple(float(factor) for factor in factors)

    def build(self, variables):
        if len(variables) != len(self.factors):
            raise ValueError(f"{self.name}: built on {len(variables)} variables but given {len(self.factors)} "
                             "learning-rate factors")
        super().build(variables)

    def _factor(self, variable):
        return self.factors[self._get_variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(gradient, variable, learning_rate * self._factor(variable))

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None:
            return
        for variable in variables:
            if self._use_weight_decay(variable):
                rate = ops.cast(self.learning_rate, variable.dtype) * ops.cast(self.weight_decay, variable.dtype)
                variable.assign(variable - variable * (rate * self._factor(variable)))

    def get_config(self):
        return super().get_config() | {"factors": list(self.factors)}


@keras.saving.register_keras_serializable(package="astrotune")
class BlockAdam(BlockLearningRates, keras.optimizers.Adam):
    """Adam with per-variable learning-rate factors."""


@keras.saving.register_keras_serializable(package="astrotune")
class BlockAdamW(BlockLearningRates, keras.optimizers.AdamW):
    """AdamW with per-variable learning-rate factors (its weight decay scaled alike)."""


@keras.saving.register_keras_serializable(package="astrotune")
class BlockSGD(BlockLearningRates, keras.optimizers.SGD):
    """SGD with per-variable learning-rate factors."""


BLOCK_OPTIMIZERS = {"adam": BlockAdam, "adamw": BlockAdamW, "sgd": BlockSGD}
