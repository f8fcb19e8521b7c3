"""Layers that reshape or cut samples: ``Reshape``, ``Flatten``, ``Slice`` and
``Split`` (one ``Slice`` per part).
"""

from dagnet.nn.base import Layer, _counter, _int_tuple


class Reshape(Layer):
    """Reshape each sample to ``shape`` (one entry may be -1)."""

    def __init__(self, shape, name=None):
        super().__init__(name)
        self.shape = tuple(shape)

    def emit(self, g, ids):
        return self._name(g, g.add_node("reshape", ids, shape=self.shape))


class Flatten(Reshape):
    """Flatten each sample to one dimension."""

    def __init__(self, name=None):
        super().__init__((-1,), name)


class Slice(Layer):
    """Entries [start, stop) along ``axis`` (not the batch axis); negative
    indices count from the end, ``stop=None`` runs to the end."""

    def __init__(self, start, stop=None, axis=-1, name=None):
        super().__init__(name)
        self.start, self.stop, self.axis = start, stop, axis
        self._split = None  # (name, sizes) of the Split this slice is a part of

    def _check_split(self, g, src):
        """The sizes of the Split this slice belongs to add up to the axis."""
        base, sizes = self._split
        shape, batched = g.infer_shape(src)
        full = (("batch",) if batched else ()) + tuple(shape)
        axis = self.axis + len(full) if self.axis < 0 else self.axis
        if not (batched and 1 <= axis < len(full)):
            return  # the slice itself says what is wrong with the axis
        if sum(sizes) != full[axis]:
            shown = "(" + ", ".join(map(str, full)) + ")"
            raise ValueError(f"{base}: the part sizes {list(sizes)} add up to {sum(sizes)}, but "
                             f"axis {self.axis} of the input {shown} has length {full[axis]}; "
                             f"give sizes that add up to {full[axis]}")

    def emit(self, g, ids):
        if getattr(self, "_split", None) is not None:
            self._check_split(g, ids[0])
        stop = (1 << 62) if self.stop is None else self.stop
        return self._name(g, g.add_node("slice", ids, axis=self.axis, start=self.start,
                                        stop=stop))


def Split(node, sizes, axis=-1, name=None):
    """Split a node along ``axis`` into consecutive parts of ``sizes``, which
    must add up to the axis' length (checked when the model is built);
    returns one node per part."""
    base = name or f"split_{next(_counter)}"
    sizes = _int_tuple(f"{base}: the part sizes", sizes, 1)
    out, start = [], 0
    for k, size in enumerate(sizes):
        part = Slice(start, start + size, axis=axis, name=f"{base}.{k}")
        part._split = (base, sizes)
        out.append(part(node))
        start += size
    return out
