"""scikit-learn MLPClassifier peer for `shardprop train` (docs/PERFORMANCE.md).

Trains sklearn.neural_network.MLPClassifier with one hidden layer (784-300-10 by default, the
same shape as `cargo run --release -- train`) on the MNIST training set and reports the wall
time of `fit` alone (loading and scaling the data are not timed), the number of epochs sklearn
ran (`n_iter_`) and the accuracy on the 10,000 test images. Everything except the hidden size is
left at scikit-learn's defaults: relu, adam (lr 1e-3), batch 200, alpha 1e-4, early stopping off,
max_iter 200, tol 1e-4 with n_iter_no_change 10; random_state is fixed. Pixels are scaled to
[0, 1] as float32, as in the other peers. This is not the same maths as shardprop (sigmoid,
squared error, plain gradient descent): it answers "what does a stock sklearn MLP on this machine
take, and what does it reach", not "examples per second for identical work".

fit stops either because the training loss did not improve by tol for n_iter_no_change epochs
(n_iter < max_iter) or at max_iter, when sklearn emits a ConvergenceWarning on stderr; a line on
stderr says which.

Run (pip install scikit-learn, which brings numpy, scipy and threadpoolctl):
  python3 benches/peers/sklearn_mlp.py --threads 1
  python3 benches/peers/sklearn_mlp.py --threads 2 --json
  python3 benches/peers/sklearn_mlp.py --threads 2 --hidden 300 --max-iter 200 --seed 1 --json
"""
import argparse
import os
import sys

# Thread counts must be in the environment before numpy (and its BLAS) is first imported.
ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)")
ap.add_argument("--hidden", type=int, default=300, help="hidden units (default 300)")
ap.add_argument("--max-iter", type=int, default=200, help="sklearn max_iter, in epochs (default 200)")
ap.add_argument("--seed", type=int, default=1, help="random_state (default 1)")
ap.add_argument("--json", action="store_true", help="print one JSON object instead of a line of text")
ARGS = ap.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import gzip  # noqa: E402
import json  # noqa: E402
import struct  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # the environment variables above still apply
    threadpool_limits = None


def mnist(root, prefix):
    raw = gzip.open(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz")).read()
    n = struct.unpack(">I", raw[4:8])[0]
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(n, 784).astype(np.float32) / 255.0
    labels = np.frombuffer(gzip.open(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz")).read(), np.uint8, offset=8)
    return x, labels.astype(np.int64)


def cpu():
    model, avx512f = "unknown", False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown":
                    model = value.strip()
                elif key == "flags":
                    avx512f = avx512f or "avx512f" in value.split()
    except OSError:
        pass
    return {"model_name": model, "avx512f": avx512f}


def run(x, y, xt, yt, hidden, max_iter, seed):
    model = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t = time.perf_counter()
        model.fit(x, y)
        seconds = time.perf_counter() - t
    hit_max_iter = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:  # show them, as sklearn would have
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return model, seconds, hit_max_iter


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "datasets", "mnist")
    x, y = mnist(root, "train")
    xt, yt = mnist(root, "t10k")
    if threadpool_limits is not None:
        with threadpool_limits(limits=ARGS.threads):
            model, seconds, hit_max_iter = run(x, y, xt, yt, ARGS.hidden, ARGS.max_iter, ARGS.seed)
            accuracy = float(model.score(xt, yt))
    else:
        model, seconds, hit_max_iter = run(x, y, xt, yt, ARGS.hidden, ARGS.max_iter, ARGS.seed)
        accuracy = float(model.score(xt, yt))
    stop = "max_iter (ConvergenceWarning)" if hit_max_iter else "converged (loss change < tol for n_iter_no_change epochs)"
    print(f"stopped: {stop} after {model.n_iter_} epochs", file=sys.stderr, flush=True)
    result = {
        "threads": ARGS.threads,
        "hidden": ARGS.hidden,
        "seconds": round(seconds, 3),
        "n_iter": int(model.n_iter_),
        "test_accuracy": round(accuracy, 4),
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "cpu": cpu(),
    }
    if ARGS.json:
        print(json.dumps(result), flush=True)
    else:
        print(
            f"sklearn {sklearn.__version__} MLPClassifier 784-{ARGS.hidden}-10 threads={ARGS.threads}: "
            f"fit {seconds:.1f} s, {model.n_iter_} epochs, test accuracy {accuracy:.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
