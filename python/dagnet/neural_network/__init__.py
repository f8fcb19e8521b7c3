"""scikit-learn's neural-network estimators on dagnet's core, and the
energy-based models scikit-learn lacks."""

from dagnet.neural_network._autoencoder import Autoencoder
from dagnet.neural_network._dbn import DBN, DBNClassifier
from dagnet.neural_network._echo_state import EchoStateClassifier, EchoStateRegressor
from dagnet.neural_network._mlp import MLPClassifier, MLPRegressor
from dagnet.neural_network._neural_net import NeuralNetClassifier, NeuralNetRegressor
from dagnet.neural_network._rbm import BernoulliRBM, GaussianBernoulliRBM
from dagnet.neural_network._vae import VAE
from dagnet.neural_network._gan import GAN

__all__ = ["Autoencoder", "BernoulliRBM", "DBN", "DBNClassifier", "EchoStateClassifier",
           "EchoStateRegressor", "GaussianBernoulliRBM",
           "MLPClassifier", "MLPRegressor", "NeuralNetClassifier", "NeuralNetRegressor", "VAE",
           "GAN"]
