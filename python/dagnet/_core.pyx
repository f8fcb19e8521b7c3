# cython: language_level=3, boundscheck=False, wraparound=False
"""The binding of dagnet's C core: thin, with numpy buffers in and out, the
GIL released around every call that computes, and C status codes turned into
Python exceptions (ValueError, TypeError, MemoryError, RuntimeError,
FloatingPointError) carrying the core's message."""

import threading

import numpy as np
cimport numpy as cnp
from libc.stdint cimport int64_t, uint64_t, uint32_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy
from dagnet._core cimport *

cnp.import_array()

_EXCEPTIONS = {
    DN_ERR_INVALID: ValueError,
    DN_ERR_TYPE: TypeError,
    DN_ERR_NOMEM: MemoryError,
    DN_ERR_STATE: RuntimeError,
    DN_ERR_NUMERIC: FloatingPointError,
    DN_ERR_UNSUPPORTED: RuntimeError,
    DN_ERR_INTERNAL: RuntimeError,
}


cdef int check(dn_status s) except -1:
    if s == DN_OK:
        return 0
    msg = dn_last_error().decode("utf-8", "replace")
    raise _EXCEPTIONS.get(s, RuntimeError)(msg)


OP_NAMES = [dn_op_name(<dn_op>i).decode() for i in range(DN_OP_COUNT)]
AXIS_ALL = DN_AXIS_ALL
MAX_DIMS = DN_MAX_DIMS


cdef dn_shape make_shape(dims) except *:
    cdef dn_shape s
    dims = tuple(int(d) for d in dims)
    if len(dims) > DN_MAX_DIMS:
        raise ValueError(f"a shape has at most {DN_MAX_DIMS} dimensions, got {dims}")
    if any(not -2**63 <= d < 2**63 for d in dims):
        raise ValueError(f"the sizes of a shape must fit in 64 bits, got {dims}")
    s.ndim = len(dims)
    for i in range(DN_MAX_DIMS):
        s.dims[i] = dims[i] if i < len(dims) else 0
    return s


cdef tuple shape_tuple(const dn_shape *s):
    return tuple(int(s.dims[i]) for i in range(s.ndim))


cdef cnp.ndarray as_f32(x, name="array"):
    """A C-contiguous float32 array (converted once when needed)."""
    try:
        return np.ascontiguousarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be convertible to a float32 array: {e}") from None


cdef cnp.ndarray view_of(float *ptr, tuple shape, object owner, bint writable):
    """A numpy array over core memory, keeping `owner` alive."""
    cdef cnp.npy_intp dims[8]
    for i, d in enumerate(shape):
        dims[i] = d
    cdef cnp.ndarray arr = cnp.PyArray_SimpleNewFromData(len(shape), dims, cnp.NPY_FLOAT32, ptr)
    cnp.Py_INCREF(owner)
    cnp.PyArray_SetBaseObject(arr, owner)
    if not writable:
        arr.setflags(write=False)
    return arr


def act_names():
    return ["identity", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus", "gelu", "silu"]


def act_fusable(str name):
    cdef dn_act a
    check(dn_act_from_name(name.encode(), &a))
    return bool(dn_act_fusable(a))


def int_tuple(str key, value, int n):
    """An int, or a sequence of n ints (a pair (h, w); padding (top, bottom,
    left, right), where a pair (h, w) means (h, h, w, w))."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    v = tuple(int(x) for x in value)
    if n == 4 and len(v) == 2:
        v = (v[0], v[0], v[1], v[1])
    if len(v) != n:
        raise ValueError(f"'{key}' takes an int or {n} ints, got {value!r}")
    return v


cdef dn_optim_config make_optim(str name, dict kw) except *:
    cdef dn_optim_kind kind
    cdef dn_optim_config c
    check(dn_optim_from_name(name.encode(), &kind))
    dn_optim_default(&c, kind)
    for key, value in kw.items():
        if key == "lr": c.lr = float(value)
        elif key == "momentum": c.momentum = float(value)
        elif key == "beta1": c.beta1 = float(value)
        elif key == "beta2": c.beta2 = float(value)
        elif key == "eps": c.eps = float(value)
        elif key == "rho": c.rho = float(value)
        elif key == "weight_decay": c.weight_decay = float(value)
        elif key == "l2": c.l2 = float(value)
        elif key == "l1": c.l1 = float(value)
        elif key == "reg_per_sample": c.reg_per_sample = int(bool(value))
        elif key == "max_norm": c.max_norm = float(value)
        elif key == "clip_norm": c.clip_norm = float(value)
        elif key == "clip_value": c.clip_value = float(value)
        else:
            raise TypeError(f"unknown optimiser setting '{key}'")
    check(dn_optim_check(&c))
    return c


cdef dn_augment_config make_augment(dict kw) except *:
    """The config from settings shift (int), flip (bool), rotation (degrees)
    and fill (float), each 0 when absent."""
    unknown = set(kw) - {"shift", "flip", "rotation", "fill"}
    if unknown:
        raise TypeError(f"unknown augmentation settings {sorted(unknown)}; use shift, flip, "
                        f"rotation and fill")
    cdef dn_augment_config c
    c.max_shift = kw.get("shift", 0)
    c.flip = kw.get("flip", False)
    c.max_degrees = kw.get("rotation", 0.0)
    c.fill_value = kw.get("fill", 0.0)
    return c


# The components, each in its own file beside this one (one extension module:
# the files are included here, in this order).
include "_core_graph.pxi"
include "_core_augment.pxi"
include "_core_kernels.pxi"
include "_core_rbm.pxi"
