"""Training recipes (need the `train` extra: torch, scikit-learn).

`dkgen.train.digits`: the digits example, a DKP LSTM classifier on scikit-learn's 8x8 digits.
"""

from dkgen.errors import DkgenError


def require_train_extra() -> None:
    """A one-line DkgenError naming the missing package when the train extra is absent."""
    try:
        import matplotlib  # noqa: F401
        import sklearn  # noqa: F401
        import torch  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError as exc:
        raise DkgenError(f"training needs the train extra ({exc.name} is missing)",
                         fix="pip install 'dkgen[train]'") from None
