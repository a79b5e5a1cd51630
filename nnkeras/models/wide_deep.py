"""Wide & Deep (Cheng et al., 2016) for tabular rows, preprocessing included.

The model is two parts, so that a phone can run the part that is arithmetic:

- preprocessing (in model.keras only): raw columns (strings for categories,
  floats with NaN for missing numbers) become integer ids and filled numbers.
  A category is looked up in the vocabulary of the data spec: value i of the
  vocabulary -> id i + 1, unknown or missing -> 0. A missing number becomes
  the training mean.
- the numeric core (a nested model named CORE, which `nnkeras convert` puts
  in the .tflite): ids and numbers in, logits out, TFLite builtin ops only.
  - wide: a linear model over one-hot categories and category crosses
    (memorises "female in first class"), written as weight lookups;
  - deep: embeddings of categories plus normalised numbers through an MLP
    (generalises). Their logits are summed.

The saved model still trains and predicts from raw rows; the server and apps
do the preprocessing with the same vocabularies (data/tabular.py `encode`).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from nnkeras.layers import PACKAGE
from nnkeras.models.checks import check_size, check_spec, dense_params, require

CORE = "wide_deep_core"


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


@keras.saving.register_keras_serializable(package=PACKAGE)
class CrossIds(keras.layers.Layer):
    """The id of a combination of categories: (id_a * n_b + id_b) mod bins.

    Exact (one id per combination) when bins >= n_a * n_b. Keras's
    HashedCrossing does the same with tf.sparse.cross_hashed, which TFLite
    has only as a Flex op; multiply, add and floor-mod are builtins.
    """

    def __init__(self, sizes, bins: int, **kwargs):
        super().__init__(**kwargs)
        self.sizes, self.bins = tuple(sizes), bins
        self.num_tokens = min(math.prod(self.sizes), bins)

    def call(self, ids):
        crossed = ops.zeros_like(ids[0])
        for x, size in zip(ids, self.sizes):
            crossed = crossed * size + x
        return ops.mod(crossed, self.num_tokens)

    def get_config(self):
        return {**super().get_config(), "sizes": list(self.sizes), "bins": self.bins}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ToInt32(keras.layers.Layer):
    """StringLookup gives int64 ids; the core takes int32, what apps and TFLite gathers use."""

    def call(self, x):
        return ops.cast(x, "int32")


def _check(input_spec, hidden, embed_dim, crosses, cross_bins, dropout):
    check_spec(input_spec)
    features = getattr(input_spec, "features", None)
    require(getattr(input_spec, "input_dtype", None) == "features" and features,
            f"wide_deep needs a tabular dataset (such as titanic), got '{input_spec.name}'")
    categorical = features.get("categorical", {})
    require(categorical, "wide_deep needs at least one categorical column for its wide part")
    require(all(len(vocab) > 0 for vocab in categorical.values()),
            f"every categorical column needs a non-empty vocabulary, got {categorical}")
    require(hidden and all(isinstance(u, int) and u >= 1 for u in hidden),
            f"model.hidden must be positive integers, got {hidden}")
    require(isinstance(embed_dim, int) and embed_dim >= 1, f"model.embed_dim must be >= 1, got {embed_dim}")
    require(isinstance(cross_bins, int) and cross_bins >= 1, f"model.cross_bins must be >= 1, got {cross_bins}")
    require(0.0 <= dropout < 1.0, f"model.dropout must be in [0, 1), got {dropout}")
    for pair in crosses:
        require(all(column in categorical for column in pair),
                f"model.crosses: {pair} must name categorical columns ({', '.join(categorical)})")
    numeric, classes = features.get("numeric", {}), input_spec.num_classes
    sizes = [len(v) + 1 for v in categorical.values()]
    tables = sum(sizes) * (embed_dim + classes) + len(crosses) * cross_bins * classes
    check_size("wide_deep", tables + dense_params([len(sizes) * embed_dim + len(numeric), *hidden, classes]),
               max(hidden))
    return categorical, numeric


def build_wide_deep(input_spec, hidden=(64, 32), embed_dim=8, crosses=("Sex:Pclass",), cross_bins=32, dropout=0.1):
    """Raw columns -> ids and filled numbers -> the numeric core (wide + deep, summed logits)."""
    crosses = tuple(tuple(c.split(":")) for c in crosses)
    categorical, numeric = _check(input_spec, tuple(hidden), embed_dim, crosses, cross_bins, dropout)
    core = build_core(categorical, numeric, input_spec.num_classes, tuple(hidden), embed_dim, crosses, cross_bins,
                      dropout)
    raw = {c: keras.Input(shape=(1,), dtype="string", name=c) for c in categorical}
    raw.update({c: keras.Input(shape=(1,), dtype="float32", name=c) for c in numeric})
    prepared = {c: ToInt32(name=f"{c}_ids")(keras.layers.StringLookup(vocabulary=list(v), name=f"{c}_lookup")(raw[c]))
                for c, v in categorical.items()}
    prepared.update({c: FillMissing(mean, name=f"{c}_fill")(raw[c]) for c, (mean, _) in numeric.items()})
    return keras.Model(raw, core(prepared), name="wide_deep")


def build_core(categorical, numeric, classes, hidden, embed_dim, crosses, cross_bins, dropout):
    """Ids (int32, 0 = unknown) and filled numbers -> logits; builtin TFLite ops only."""
    ids = {c: keras.Input(shape=(1,), dtype="int32", name=c) for c in categorical}
    numbers = {c: keras.Input(shape=(1,), dtype="float32", name=c) for c in numeric}
    sizes = {c: len(v) + 1 for c, v in categorical.items()}  # + the unknown id 0
    wide_logits = _wide(ids, sizes, crosses, cross_bins, classes)
    deep_logits = _deep(ids, sizes, numbers, numeric, classes, hidden, embed_dim, dropout)
    logits = keras.layers.Add(name="logits")([wide_logits, deep_logits])
    return keras.Model({**ids, **numbers}, logits, name=CORE)


def _wide(ids, sizes, crosses, cross_bins, classes):
    """A linear model over the one-hot categories and their crosses.

    One-hot times a weight matrix picks one row of weights per column, so each
    column is an Embedding with one output per class, summed over the columns
    (one 1 per column makes a bias redundant). The same function as a Dense
    layer over one-hot vectors, but TFLite's int8 ONE_HOT loses the ones.
    """
    weights = [_lookup(ids[c], sizes[c], classes, f"{c}_wide") for c in ids]
    for pair in crosses:
        name = f"cross_{'_'.join(pair)}"
        cross = CrossIds([sizes[c] for c in pair], cross_bins, name=name)
        weights.append(_lookup(cross([ids[c] for c in pair]), cross.num_tokens, classes, f"{name}_wide"))
    return weights[0] if len(weights) == 1 else keras.layers.Add(name="wide_logits")(weights)


def _lookup(ids, size, width, name):
    """(batch, 1) ids -> (batch, width) rows of a learned table."""
    return keras.layers.Flatten(name=f"{name}_flat")(keras.layers.Embedding(size, width, name=name)(ids))


def _deep(ids, sizes, numbers, numeric, classes, hidden, embed_dim, dropout):
    """Embeddings of the categories and normalised numbers through an MLP."""
    embedded = [_lookup(ids[c], sizes[c], embed_dim, f"{c}_embedding") for c in ids]
    normalised = [keras.layers.Normalization(mean=mean, variance=variance, name=f"{c}_norm")(numbers[c])
                  for c, (mean, variance) in numeric.items()]
    # The first layer is one Dense over [embeddings; numbers], written as two Dense
    # summed (the same function): int8 then gives the small embedding values a
    # scale of their own instead of the wide range of the normalised counts.
    groups = {"embeddings": embedded, "numbers": normalised}
    first = [keras.layers.Dense(hidden[0], name=f"deep_dense_1_{group}")(_concat(tensors, group))
             for group, tensors in groups.items() if tensors]
    x = first[0] if len(first) == 1 else keras.layers.Add(name="deep_dense_1_sum")(first)
    x = keras.layers.Activation("relu", name="deep_dense_1")(x)
    for i, units in enumerate(hidden, start=1):
        if i > 1:
            x = keras.layers.Dense(units, activation="relu", name=f"deep_dense_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"deep_dropout_{i}")(x)
    return keras.layers.Dense(classes, name="deep_logits")(x)


def numeric_core(model):
    """The part of a model that goes into a .tflite: the core of a wide_deep model, else the model itself."""
    try:
        return model.get_layer(CORE)
    except ValueError:
        return model


def _concat(tensors, name):
    return tensors[0] if len(tensors) == 1 else keras.layers.Concatenate(name=name)(tensors)
