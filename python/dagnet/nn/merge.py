"""Layers that join several inputs: ``Add``, ``Multiply``, ``Subtract`` and
``Concat``.
"""

from dagnet.nn.base import Layer


class _Join(Layer):
    n_inputs = -1
    op = None

    def emit(self, g, ids):
        out = ids[0]
        for k, other in enumerate(ids[1:]):
            out = g.add_node(self.op, [out, other])
            self._name(g, out, "" if k == len(ids) - 2 else f".{k}")
        return out


class Add(_Join):
    """Elementwise sum of its inputs (numpy broadcasting)."""
    op = "add"


class Multiply(_Join):
    """Elementwise product of its inputs (numpy broadcasting)."""
    op = "mul"


class Subtract(Layer):
    """The first input minus the second (numpy broadcasting)."""
    n_inputs = 2

    def emit(self, g, ids):
        return self._name(g, g.add_node("sub", ids))


class Concat(Layer):
    """Join inputs along ``axis`` (not the batch axis)."""
    n_inputs = -1

    def __init__(self, axis=-1, name=None):
        super().__init__(name)
        self.axis = axis

    def emit(self, g, ids):
        return self._name(g, g.add_node("concat", ids, axis=self.axis))
