"""Normalisation layers: ``BatchNorm`` and ``LayerNorm``.
"""

from dagnet.nn.base import Layer


class BatchNorm(Layer):
    """Batch normalisation over every axis but ``axis`` of the full tensor
    (batch first), seed 000 section 8. The default 1 is the features of
    (n, f) data and the channels of NCHW images (axis 0 of a sample
    (C, H, W)): each channel is normalised over the batch, H and W. Batch
    statistics in training, running statistics at inference."""

    def __init__(self, axis=1, momentum=0.1, eps=1e-5, name=None, trainable=True):
        super().__init__(name, trainable)
        self.axis = axis
        self.momentum = momentum
        self.eps = eps

    def emit(self, g, ids):
        return self._name(g, g.add_node("batchnorm", ids, axis=self.axis,
                                        momentum=self.momentum, eps=self.eps))


class LayerNorm(Layer):
    """Layer normalisation over the last axis (seed 000, section 8)."""

    supports_masking = True

    def __init__(self, eps=1e-5, name=None, trainable=True):
        super().__init__(name, trainable)
        self.eps = eps

    def emit(self, g, ids):
        return self._name(g, g.add_node("layernorm", ids, eps=self.eps))
