"""The layers of variational models: ``Reparameterize`` (the reparameterisation
trick) and ``GaussianKL`` (the KL term of the loss).
"""

from dagnet.nn.base import Layer


class Reparameterize(Layer):
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) drawn in the core: a new
    draw in every training run; at inference one fixed draw shared by all
    samples, so results are a deterministic function of each sample. Called
    on ``[mu, logvar]`` (the VAE's reparameterisation, seed 004 7.2.1)."""

    n_inputs = 2

    def emit(self, g, ids):
        return self._name(g, g.add_node("reparameterize", ids))


class GaussianKL(Layer):
    """Per sample, KL(N(mu, diag exp(logvar)) || N(0, I)) =
    0.5 sum(mu^2 + exp(logvar) - logvar - 1), shape (1,). Called on
    ``[mu, logvar]``."""

    n_inputs = 2

    def emit(self, g, ids):
        return self._name(g, g.add_node("gaussian_kl", ids))
