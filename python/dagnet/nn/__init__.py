"""dagnet.nn: layers and models in Keras' familiar shape, running on the C
core.

>>> import numpy as np
>>> from dagnet.nn import Sequential, Dense, Dropout
>>> model = Sequential([Dense(32, activation="relu"), Dropout(0.1), Dense(1)])
>>> model = model.build(input_shape=(4,), random_state=0)
>>> model.forward(np.ones((5, 4))).shape
(5, 1)
"""

from dagnet.nn.augment import Augment
from dagnet.nn.base import Input, Layer, Node, node_shape
from dagnet.nn.convolution import (AvgPool2D, Conv2D, Conv2DTranspose, GlobalAvgPool2D,
                                   MaxPool2D, UpSampling2D, residual_block)
from dagnet.nn.dense import Activation, Dense, Dropout, SpectralDense
from dagnet.nn.merge import Add, Concat, Multiply, Subtract
from dagnet.nn.normalization import BatchNorm, LayerNorm
from dagnet.nn.recurrent import (GRU, LSTM, Bidirectional, Embedding, Masking, SimpleRNN,
                                 TimeDistributed, decode)
from dagnet.nn.reshaping import Flatten, Reshape, Slice, Split
from dagnet.nn.variational import GaussianKL, Reparameterize
from dagnet.nn.model import LOSSES, OPTIMIZERS, Model, Sequential
# dagnet.nn.layers: every layer under one module name, as older code and pickles name them
from dagnet.nn import layers  # noqa: F401

INITIALIZERS = ("zeros", "constant", "uniform", "normal", "lecun_uniform", "lecun_normal",
                "glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "sklearn")

__all__ = ["Activation", "Add", "AvgPool2D", "BatchNorm", "Concat", "Conv2D", "Conv2DTranspose",
           "Dense", "Dropout", "Flatten", "GlobalAvgPool2D", "Input", "Layer", "LayerNorm",
           "MaxPool2D", "Model", "Multiply", "Node", "Reshape", "Sequential", "Slice", "Split",
           "Subtract", "UpSampling2D", "node_shape", "residual_block", "LOSSES", "OPTIMIZERS",
           "INITIALIZERS", "Augment", "GaussianKL", "Reparameterize", "SpectralDense",
           "Embedding", "GRU", "LSTM", "Masking", "SimpleRNN", "TimeDistributed", "decode",
           "Bidirectional"]
