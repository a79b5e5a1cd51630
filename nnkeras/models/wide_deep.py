"""Wide & Deep (Cheng et al., 2016) for tabular rows, preprocessing included.

Inputs are raw columns (strings for categories, floats with NaN for missing
numbers). Inside the model: categories are looked up in the vocabularies of
the data spec (unknown or missing -> an out-of-vocabulary slot), numbers have
missing values filled with the training mean and are normalised. So the saved
model predicts from raw rows, in Python, TFLite or the web API alike.

- wide: a linear model over one-hot categories and hashed category crosses
  (memorises "female in first class");
- deep: embeddings of categories plus normalised numbers through an MLP
  (generalises). Their logits are summed.
"""

from __future__ import annotations

import keras
from keras import ops

from nnkeras.layers import PACKAGE
from nnkeras.models.checks import check_spec, require


@keras.saving.register_keras_serializable(package=PACKAGE)
class FillMissing(keras.layers.Layer):
    """Replace NaN by a fixed value (the training mean)."""

    def __init__(self, value: float, **kwargs):
        super().__init__(**kwargs)
        self.value = value

    def call(self, x):
        return ops.where(ops.isnan(x), ops.full_like(x, self.value), x)

    def get_config(self):
        return {**super().get_config(), "value": self.value}


def _check(input_spec, hidden, embed_dim, crosses, dropout):
    check_spec(input_spec)
    features = getattr(input_spec, "features", None)
    require(getattr(input_spec, "input_dtype", None) == "features" and features,
            f"wide_deep needs a tabular dataset (such as titanic), got '{input_spec.name}'")
    categorical = features.get("categorical", {})
    require(all(len(vocab) > 0 for vocab in categorical.values()),
            f"every categorical column needs a non-empty vocabulary, got {categorical}")
    require(hidden and all(isinstance(u, int) and u >= 1 for u in hidden),
            f"model.hidden must be positive integers, got {hidden}")
    require(isinstance(embed_dim, int) and embed_dim >= 1, f"model.embed_dim must be >= 1, got {embed_dim}")
    require(0.0 <= dropout < 1.0, f"model.dropout must be in [0, 1), got {dropout}")
    for pair in crosses:
        require(all(column in categorical for column in pair),
                f"model.crosses: {pair} must name categorical columns ({', '.join(categorical)})")
    return categorical, features.get("numeric", {})


def build_wide_deep(input_spec, hidden=(64, 32), embed_dim=8, crosses=("Sex:Pclass",), cross_bins=32, dropout=0.1):
    """Wide (one-hot + crossed categories, linear) + deep (embeddings + numbers, MLP), summed logits."""
    crosses = tuple(tuple(c.split(":")) for c in crosses)
    categorical, numeric = _check(input_spec, tuple(hidden), embed_dim, crosses, dropout)
    inputs = {c: keras.Input(shape=(1,), dtype="string", name=c) for c in categorical}
    inputs.update({c: keras.Input(shape=(1,), dtype="float32", name=c) for c in numeric})
    ids = {c: keras.layers.StringLookup(vocabulary=list(v), name=f"{c}_lookup")(inputs[c])
           for c, v in categorical.items()}
    wide = [keras.layers.CategoryEncoding(len(v) + 1, output_mode="one_hot", name=f"{c}_one_hot")(ids[c])
            for c, v in categorical.items()]
    wide += [keras.layers.HashedCrossing(cross_bins, output_mode="one_hot", name=f"cross_{'_'.join(pair)}")(
        tuple(ids[c] for c in pair)) for pair in crosses]
    deep = [keras.layers.Flatten(name=f"{c}_flat")(keras.layers.Embedding(len(v) + 1, embed_dim, name=f"{c}_embedding")(ids[c]))
            for c, v in categorical.items()]
    for c, (mean, variance) in numeric.items():
        filled = FillMissing(mean, name=f"{c}_fill")(inputs[c])
        deep.append(keras.layers.Normalization(mean=mean, variance=variance, name=f"{c}_norm")(filled))
    classes = input_spec.num_classes
    wide_logits = keras.layers.Dense(classes, name="wide_logits")(_concat(wide, "wide_features"))
    x = _concat(deep, "deep_features")
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"deep_dense_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"deep_dropout_{i}")(x)
    deep_logits = keras.layers.Dense(classes, name="deep_logits")(x)
    logits = keras.layers.Add(name="logits")([wide_logits, deep_logits])
    return keras.Model(inputs, logits, name="wide_deep")


def _concat(tensors, name):
    return tensors[0] if len(tensors) == 1 else keras.layers.Concatenate(name=name)(tensors)
