"""The examples in the docstrings run."""

import doctest
import os

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
import dagnet.nn.base
import dagnet.nn.convolution
import dagnet.nn.dense
import dagnet.nn.model
import dagnet.nn.recurrent


@pytest.mark.parametrize("module", [dagnet.nn, dagnet.nn.model, dagnet.nn.base, dagnet.nn.dense,
                                    dagnet.nn.convolution, dagnet.nn.augment, dagnet.nn.recurrent,
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
    the MLP, every speed figure a median of alternating rounds with its
    spread, and the pictures in the folder the tour names when matplotlib is
    there."""
    import dagnet.__main__ as tour

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tour, "ROUNDS", 2)
    tour.main([])
    out = capsys.readouterr().out
    assert "MLPClassifier" in out and "log-likelihood" in out
    assert "NeuralNetClassifier" in out
    assert "Autoencoder" in out and "PCA" in out
    # three "faster" figures (MLP, Sequential, RBM), each with its rounds
    assert out.count("x faster (median of 2 alternating rounds, ") == 3
    # the sequence models: gated cells solve the adding problem, a vanilla RNN does not
    assert "LSTM(64)" in out and "nats per character" in out and "Mackey-Glass" in out
    adding = {line.split()[0]: line for line in out.splitlines()
              if line.strip().startswith(("SimpleRNN", "LSTM ", "GRU "))}
    assert adding["SimpleRNN"].endswith("not solved")
    assert adding["LSTM"].endswith(": solved") and adding["GRU"].endswith(": solved")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert 'pip install ".[plot]"' in out
        return
    folder = tmp_path / "dagnet_tour"
    assert f"pictures: saved in {folder}" in out
    for name in ("rbm_samples.png", "autoencoder.png", "vae_samples.png", "gan_ring.png"):
        assert (folder / name).stat().st_size > 1000
        assert f"saved to {os.path.join('dagnet_tour', name)}" in out


def test_tour_out_folder(tmp_path, monkeypatch):
    """--out names the pictures' folder."""
    import dagnet.__main__ as tour

    pytest.importorskip("matplotlib")
    saved = []
    monkeypatch.setattr(tour, "_save", lambda fig, out, name: saved.append((out, name)))
    monkeypatch.setattr(tour, "tour_mlp", lambda *a: None)
    monkeypatch.setattr(tour, "tour_nn", lambda *a: None)
    monkeypatch.setattr(tour, "tour_cnn", lambda *a: None)
    monkeypatch.setattr(tour, "tour_rbm", lambda X_train, X_test, out: None)
    monkeypatch.setattr(tour, "tour_autoencoder", lambda X_train, X_test, out: None)
    monkeypatch.setattr(tour, "tour_vae", lambda X_train, X_test, out: None)
    tour.main(["--out", str(tmp_path / "pics")])
    assert saved == [(str(tmp_path / "pics"), "gan_ring.png")]
