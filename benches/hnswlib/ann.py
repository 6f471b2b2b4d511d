"""hnswlib (PyPI `hnswlib`, in-memory HNSW) on the ANN workload of src/bin/ann.rs: build an index
over the first `rows` vectors of minilm-20k (cosine, M=16, ef_construction=200, one thread),
then time single-query searches (k nearest, one call per query, as the SQL engines answer them)
at each ef of the curve: one untimed warm-up pass, then `repeats` timed passes. Prints one JSON
object: {"version", "build_ms", "curve": [{"ef", "repeat_ms": [..], "ids": [[..], ..]}]}.

usage: python ann.py <dataset dir> <rows> <queries> <repeats> <k> <ef,...>
"""
import json
import os
import sys
import time

import hnswlib
import numpy as np

DIMS = 384


def main():
    directory, rows, nq, repeats, k, efs = sys.argv[1:7]
    rows, nq, repeats, k = int(rows), int(nq), int(repeats), int(k)
    base = np.fromfile(os.path.join(directory, "base.f32"), dtype="<f4").reshape(-1, DIMS)[:rows]
    queries = np.fromfile(os.path.join(directory, "queries.f32"), dtype="<f4").reshape(-1, DIMS)[:nq]
    index = hnswlib.Index(space="cosine", dim=DIMS)
    index.set_num_threads(1)
    start = time.perf_counter()
    index.init_index(max_elements=rows, M=16, ef_construction=200, random_seed=100)
    index.add_items(base, np.arange(rows), num_threads=1)
    build_ms = (time.perf_counter() - start) * 1e3
    curve = []
    for ef in (int(e) for e in efs.split(",") if e):
        index.set_ef(max(ef, k))
        ids = []
        for q in queries:
            labels, _ = index.knn_query(q, k=k, num_threads=1)
            ids.append([int(x) for x in labels[0]])
        repeat_ms = []
        for _ in range(repeats):
            t = time.perf_counter()
            for q in queries:
                index.knn_query(q, k=k, num_threads=1)
            repeat_ms.append((time.perf_counter() - t) * 1e3)
        curve.append({"ef": ef, "repeat_ms": repeat_ms, "ids": ids})
    version = getattr(hnswlib, "__version__", None)
    if version is None:
        from importlib.metadata import version as package_version

        version = package_version("hnswlib")
    print(json.dumps({"version": version, "build_ms": build_ms, "curve": curve}))


if __name__ == "__main__":
    main()
