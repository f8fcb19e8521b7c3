"""The examples in the docstrings run."""

import doctest

import pytest

import dagnet.metrics
import dagnet.neural_network._autoencoder
import dagnet.neural_network._dbn
import dagnet.neural_network._gan
import dagnet.neural_network._mlp
import dagnet.neural_network._neural_net
import dagnet.neural_network._rbm
import dagnet.neural_network._vae
import dagnet.nn
import dagnet.nn.augment
import dagnet.nn.model


@pytest.mark.parametrize("module", [dagnet.nn, dagnet.nn.model, dagnet.nn.layers, dagnet.nn.augment,
                                    dagnet.neural_network._mlp, dagnet.neural_network._rbm,
                                    dagnet.neural_network._dbn,
                                    dagnet.neural_network._neural_net,
                                    dagnet.neural_network._autoencoder,
                                    dagnet.neural_network._vae, dagnet.neural_network._gan,
                                    dagnet.metrics])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_readme_examples_run():
    import pathlib
    import re

    readme = pathlib.Path(__file__).resolve().parents[1] / "README.md"
    if not readme.exists():
        pytest.skip("README.md not beside the tests")
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
    assert len(blocks) >= 3
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_tour_runs(tmp_path, monkeypatch, capsys):
    """python -m dagnet: both estimators beside scikit-learn's, the CNN beside
    the MLP, and the RBM's picture when matplotlib is there."""
    import dagnet.__main__ as tour

    monkeypatch.chdir(tmp_path)
    tour.main()
    out = capsys.readouterr().out
    assert "MLPClassifier" in out and "faster" in out and "log-likelihood" in out
    assert "NeuralNetClassifier" in out
    assert "Autoencoder" in out and "PCA" in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "dagnet_rbm_samples.png").stat().st_size > 1000
    assert (tmp_path / "dagnet_autoencoder.png").stat().st_size > 1000
