"""ArcFace embeddings (tutorial chapter 6's face recognition, with digits as identities).

A small CNN maps an image to a 64-d embedding; an ArcFace head (scale 30,
margin 0.5 rad) trains it on digits 0-6. Digits 7, 8 and 9 are never seen in
training: they play new people. Reported in metrics.json:
holdout_verification_accuracy (same / different identity for pairs of
unseen digits, threshold chosen on training identities) and
holdout_nearest_neighbour_accuracy.

    nnkeras run arcface_embedding                      # offline: mnist_sample
    nnkeras run arcface_embedding --set data.name=mnist

Measured (mnist_sample, seed 42, 15 epochs): test accuracy on digits 0-6
0.981; on the unseen digits 7-9, nearest-neighbour accuracy 0.935 and pair
verification 0.694 (the threshold, picked on training identities, transfers
only partly to new ones: the embedding separates them, the fixed cut-off is
what loses points).
"""

from nnkeras import DataConfig, Experiment, ModelConfig, TrainConfig

EXPERIMENT = Experiment(
    name="arcface_embedding",
    description="ArcFace embedding, digits 7-9 held out as unseen identities",
    data=DataConfig(name="mnist_sample", holdout_classes=(7, 8, 9)),
    model=ModelConfig(name="arcface", params={"embedding_dim": 64, "filters": (32, 64), "scale": 30.0, "margin": 0.5}),
    train=TrainConfig(epochs=15, batch_size=64, learning_rate=1e-3, patience=5),
)

if __name__ == "__main__":
    from nnkeras.cli import run_script

    run_script(__file__)
