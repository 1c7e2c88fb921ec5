"""Training recipes (need the `train` extra: torch, scikit-learn).

`dkgen.train.digits`: the digits example, a DKP LSTM classifier on scikit-learn's 8x8 digits.
"""
