"""How good an embedding is on identities never seen in training (ArcFace).

- verification: pairs of held-out examples, same identity or not; a pair is
  called "same" when the cosine similarity of its embeddings passes a
  threshold chosen on pairs from the validation set (training identities),
  so nothing about the held-out identities is tuned;
- nearest neighbour: each held-out example takes the identity of its most
  similar other held-out example (leave-one-out 1-NN).
"""

from __future__ import annotations

import numpy as np

EMBEDDING_LAYER = "embedding"


def embed(model, x) -> np.ndarray:
    import keras

    encoder = keras.Model(model.inputs, model.get_layer(EMBEDDING_LAYER).output)
    vectors = encoder.predict(x, batch_size=512, verbose=0)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def sample_pairs(labels: np.ndarray, n_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half same-identity, half different-identity index pairs."""
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    by_class = [idx for idx in by_class if len(idx) >= 2]
    firsts, seconds, same = [], [], []
    for i in range(n_pairs):
        if i % 2 == 0:
            members = by_class[rng.integers(len(by_class))]
            a, b = rng.choice(members, size=2, replace=False)
        else:
            a, b = rng.choice(len(labels), size=2, replace=False)
            while labels[a] == labels[b]:
                a, b = rng.choice(len(labels), size=2, replace=False)
        firsts.append(a), seconds.append(b), same.append(labels[a] == labels[b])
    return np.array(firsts), np.array(seconds), np.array(same)


def best_threshold(similarity: np.ndarray, same: np.ndarray) -> float:
    candidates = np.unique(similarity)
    accuracy = [np.mean((similarity >= t) == same) for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def embedding_metrics(model, data, n_pairs: int = 2000, seed: int = 0) -> dict:
    val = embed(model, data.x_val)
    held = embed(model, data.x_holdout)
    a, b, same = sample_pairs(data.y_val, n_pairs, seed)
    threshold = best_threshold(np.sum(val[a] * val[b], axis=1), same)
    a, b, same = sample_pairs(data.y_holdout, n_pairs, seed + 1)
    verification = np.mean((np.sum(held[a] * held[b], axis=1) >= threshold) == same)
    similarity = held @ held.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = data.y_holdout[np.argmax(similarity, axis=1)]
    return {
        "holdout_verification_accuracy": float(verification),
        "holdout_nearest_neighbour_accuracy": float(np.mean(nearest == data.y_holdout)),
        "verification_threshold": threshold,
        "n_holdout": int(len(data.y_holdout)),
    }
