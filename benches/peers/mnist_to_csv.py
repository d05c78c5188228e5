"""Writes the shipped MNIST training set as CSV (784 pixel columns 0-255, then label), about
110 MB: the wide numeric CSV used for the ingestion numbers in docs/PERFORMANCE.md.

Run: python3 benches/peers/mnist_to_csv.py datasets/mnist OUT.csv
"""
import gzip
import struct
import sys

src, out = sys.argv[1], sys.argv[2]
images = gzip.open(f"{src}/train-images-idx3-ubyte.gz").read()
labels = gzip.open(f"{src}/train-labels-idx1-ubyte.gz").read()[8:]
n, rows, cols = struct.unpack(">III", images[4:16])
pixels, f = images[16:], rows * cols
with open(out, "w") as o:
    o.write(",".join(f"pixel{j}" for j in range(f)) + ",label\n")
    for i in range(n):
        o.write(",".join(map(str, pixels[i * f:(i + 1) * f])) + "," + str(labels[i]) + "\n")
