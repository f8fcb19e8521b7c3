"""The examples in the docstrings run."""

import doctest

import pytest

import dagnet.neural_network._mlp
import dagnet.nn
import dagnet.nn.model


@pytest.mark.parametrize("module", [dagnet.nn, dagnet.nn.model, dagnet.neural_network._mlp])
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
    assert len(blocks) >= 2
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
