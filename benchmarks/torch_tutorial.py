"""The tutorial's PyTorch code (chapter 3's MLP, chapter 5's LeNet-5), timed; run with /work/venv-torch/bin/python.

    /work/venv-torch/bin/python benchmarks/torch_tutorial.py speed mlp              # synthetic, prints JSON
    /work/venv-torch/bin/python benchmarks/torch_tutorial.py speed mlp --npz F.npz  # arrays x, y, x_test, y_test
    /work/venv-torch/bin/python benchmarks/torch_tutorial.py job DIR/mnist.npz OUT  # the whole MLP job

PyTorch is no dependency of nnkeras: it lives in a venv of its own
(`python3 -m venv /work/venv-torch && /work/venv-torch/bin/pip install
torch==2.13.0 numpy`, the CPU build). This script imports neither keras nor
nnkeras; the synthetic images come from speed_data.make_data, the function
training_speed.py's Keras paths use.

The article's script as it is, with its two slips fixed: the model returns
logits and CrossEntropyLoss applies the softmax (the article applied softmax
twice), and the loss is not printed after every batch. Kept as the article
has it: a DataLoader over the tensors with batch 64 and shuffle=True, Adam
with lr 1e-3 (the article's optimizer), 5 epochs for the MLP, eval under
no_grad with batches of 1000. The images arrive normalised (speed) or as
Keras's mnist.npz layout of uint8 pixels normalised with the article's
mean 0.1307 and std 0.3081 (job).

`speed` prints one JSON line with the keys training_speed.py tabulates:
train / fit_call (the epoch loop), evaluate (accuracy over the test set),
predict (logits of the test set), process, peak_rss_mb, test_accuracy.
`job` is what a user's script does end to end: read the files, train on 90%
with a validation pass per epoch (as `nnkeras run` does), score the test
set, save the weights; it prints the test accuracy.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

START = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn, optim  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

EPOCHS = {"mlp": 5, "lenet5": 1}


class Net(nn.Module):
    """The article's 784-30-10 MLP, returning logits."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 30)
        self.fc2 = nn.Linear(30, 10)

    def forward(self, x):
        x = x.view(-1, 28 * 28)
        return self.fc2(torch.relu(self.fc1(x)))  # logits: CrossEntropyLoss applies log-softmax once


class LeNet5(nn.Module):
    """LeNet-5 as nnkeras's lenet5 builds it: conv 6@5x5 (same), pool, conv 16@5x5, pool, 120, 84, 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def tensors(x: np.ndarray, y: np.ndarray) -> TensorDataset:
    """NHWC float images (Keras's layout) as NCHW tensors (what ToTensor gives the article's loader)."""
    return TensorDataset(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), torch.from_numpy(y.astype(np.int64)))


def train_epoch(model, loader, criterion, optimizer) -> None:
    model.train()
    for data, target in loader:
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        optimizer.step()


def accuracy(model, dataset: TensorDataset) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for data, target in DataLoader(dataset, batch_size=1000, shuffle=False):
            correct += model(data).argmax(dim=1).eq(target).sum().item()
    return correct / len(dataset)


def new_model(name: str):
    torch.manual_seed(0)
    model = Net() if name == "mlp" else LeNet5()
    return model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.001)


def speed(name: str, npz: str | None) -> dict:
    if npz:
        with np.load(npz) as arrays:
            x, y, x_test, y_test = (arrays[k] for k in ("x", "y", "x_test", "y_test"))
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from speed_data import make_data

        x, y = make_data()
        x_test, y_test = x[:10_000], y[:10_000]
    train_set, test_set = tensors(x, y), tensors(x_test, y_test)
    out = {"import_and_data": time.perf_counter() - START}
    model, criterion, optimizer = new_model(name)
    loader = DataLoader(train_set, batch_size=64, shuffle=True)
    t = time.perf_counter()
    for _ in range(EPOCHS[name]):
        train_epoch(model, loader, criterion, optimizer)
    out["train"] = out["fit_call"] = time.perf_counter() - t
    t = time.perf_counter()
    out["test_accuracy"] = accuracy(model, test_set)
    out["evaluate"] = time.perf_counter() - t
    t = time.perf_counter()
    model.eval()
    with torch.no_grad():
        for data, _ in DataLoader(test_set, batch_size=1000):
            model(data)
    out["predict"] = time.perf_counter() - t
    out["process"] = time.perf_counter() - START
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def job(mnist_npz: str, out_dir: str) -> float:
    """The MLP job end to end, as `nnkeras run mnist_mlp --set data.dir=...` does it."""
    with np.load(mnist_npz) as arrays:
        x_train, y_train, x_test, y_test = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))

    def normalise(images):
        return ((images.astype(np.float32) / 255 - 0.1307) / 0.3081)[..., None]

    x_train, x_test = normalise(x_train), normalise(x_test)
    order = np.random.default_rng(0).permutation(len(y_train))
    n_val = len(order) // 10
    val_set = tensors(x_train[order[:n_val]], y_train[order[:n_val]])
    train_set = tensors(x_train[order[n_val:]], y_train[order[n_val:]])
    model, criterion, optimizer = new_model("mlp")
    loader = DataLoader(train_set, batch_size=64, shuffle=True)
    for epoch in range(EPOCHS["mlp"]):
        train_epoch(model, loader, criterion, optimizer)
        print(f"epoch {epoch + 1}: val accuracy {accuracy(model, val_set):.4f}")
    test_accuracy = accuracy(model, tensors(x_test, y_test))
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), Path(out_dir) / "model.pt")
    print(f"test accuracy {test_accuracy:.4f}")
    return test_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    timed = sub.add_parser("speed")
    timed.add_argument("model", choices=sorted(EPOCHS))
    timed.add_argument("--npz", help="arrays x, y, x_test, y_test (normalised, NHWC) instead of synthetic data")
    whole = sub.add_parser("job")
    whole.add_argument("mnist_npz")
    whole.add_argument("out_dir")
    for mode in (timed, whole):
        mode.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's, one per core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mode == "speed":
        print(json.dumps(speed(args.model, args.npz)))
    else:
        job(args.mnist_npz, args.out_dir)


if __name__ == "__main__":
    main()
