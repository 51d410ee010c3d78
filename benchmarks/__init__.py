"""dlcore benchmarks: ``python -m benchmarks.bench_affine`` etc. (see each module)."""
