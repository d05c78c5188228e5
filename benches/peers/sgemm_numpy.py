"""Single-precision GEMM rate of NumPy's BLAS (its bundled OpenBLAS) at the training steps' shapes.

Compares with `shardprop bench`'s roof (the `gemm` crate at 512^3) in docs/PERFORMANCE.md.
Run: python3 benches/peers/sgemm_numpy.py   (one thread; set OPENBLAS_NUM_THREADS before
numpy is imported, as this script does)
"""
import os, time
os.environ["OPENBLAS_NUM_THREADS"]="1"
import numpy as np
def rate(m,k,n,reps=30):
    a=np.random.rand(m,k).astype(np.float32); b=np.random.rand(k,n).astype(np.float32)
    a@b
    best=1e9
    for _ in range(3):
        t=time.perf_counter()
        for _ in range(reps): a@b
        best=min(best,(time.perf_counter()-t)/reps)
    return 2*m*k*n/best/1e9
for s in [(512,512,512),(256,784,800),(800,256,784),(256,784,128)]:
    print(s, round(rate(*s),1), "GFLOP/s numpy/OpenBLAS 1 thread")
