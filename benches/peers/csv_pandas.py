"""Reference CSV reader for the ingestion comparison in docs/PERFORMANCE.md.

Run: python3 benches/peers/csv_pandas.py PATH.csv   (pip install pandas numpy)
Prints the best of 3 wall times for pandas.read_csv into float32, the way a NumPy/PyTorch user
would load a numeric CSV.
"""
import sys
import time

import numpy as np
import pandas as pd

path = sys.argv[1]
best = float("inf")
for _ in range(3):
    t = time.perf_counter()
    df = pd.read_csv(path, dtype=np.float32)
    best = min(best, time.perf_counter() - t)
print(f"pandas {pd.__version__} read_csv float32: {best:.3f} s for {df.shape[0]} rows x {df.shape[1]} columns")
