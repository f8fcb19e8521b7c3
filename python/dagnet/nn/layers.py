"""Every layer of dagnet.nn under one module name.

The layers live in one module per family (``base``, ``dense``,
``normalization``, ``merge``, ``reshaping``, ``convolution``,
``variational``); this module names them all again, so that code importing
from ``dagnet.nn.layers`` and models pickled when the layers were defined
here still load.
"""

from dagnet.nn.base import (_ACTIVATIONS, Input, InputLayer, Layer, Node, _check_activation,
                            _copy_weights, _counter, _int_tuple, _is_int, _weight_arrays,
                            node_shape)
from dagnet.nn.convolution import (AvgPool2D, Conv2D, Conv2DTranspose, GlobalAvgPool2D,
                                   MaxPool2D, UpSampling2D, _conv_padding, _ConvBase, _padding4,
                                   _pair, _Pool, _same_padding, residual_block)
from dagnet.nn.dense import Activation, Dense, Dropout, SpectralDense
from dagnet.nn.merge import Add, Concat, Multiply, Subtract, _Join
from dagnet.nn.normalization import BatchNorm, LayerNorm
from dagnet.nn.reshaping import Flatten, Reshape, Slice, Split
from dagnet.nn.variational import GaussianKL, Reparameterize
