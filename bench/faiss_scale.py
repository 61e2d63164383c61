"""FAISS yardsticks for bench/scale.ts: build an index over the first --n rows of a raw float32 file,
save it; then, in a fresh process, read it back and search, so that process's peak RSS is serving's.

  build: /usr/bin/python3 bench/faiss_scale.py build --data rows.f32 --d 256 --n N --method hnsw --out I.faiss
         prints {"build_s", "bytes", ...settings}
  serve: /usr/bin/python3 bench/faiss_scale.py serve --index I.faiss --d 256 --queries q.f32 --truth t.i32
         --method hnsw --singles 200 --batches 15 [--sweep 16,32,64,128,256]
         prints {"rss_mib", "points": [{"p50_ms", "p95_ms", "batch64_ms_per_query", "recall_at_10", "ef_search"
         or "nprobe", ...}, ...]}: one point per value of the method's search knob, in the order given

Methods: flat (IndexFlatL2), hnsw (IndexHNSWFlat, M = 16, efConstruction = 40; knob efSearch),
ivfsq8 (IndexIVFScalarQuantizer 8-bit) and ivfpq (IndexIVFPQ, d / PQ_DIMS_PER_BYTE sub-quantizers of
8 bits, no re-rank), both with nlist = round(4√N), trained on TRAIN_PER_LIST × nlist rows drawn evenly
(knob nprobe). The default sweep is the method's one reference setting (efSearch EF_SEARCH, nprobe
NPROBE). A missing dependency prints {"error": ...} and exits with 2.
"""
import argparse
import json
import math
import os
import sys
import time

INSTALL = 'apt-get install python3-faiss'
M = 16
EF_CONSTRUCTION = 40
EF_SEARCH = 128
NPROBE = 32
PQ_DIMS_PER_BYTE = 4
TRAIN_PER_LIST = 40
TRAIN_ITERATIONS = 10
ADD_CHUNK = 65536
BATCH = 64
WARMUP = 3


def fail(message):
    print(json.dumps({'error': message}))
    sys.exit(2)


def peak_rss_mib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return float('nan')


# The search knob of each method: its name in the answer and the reference setting.
KNOBS = {'hnsw': ('ef_search', EF_SEARCH), 'ivfsq8': ('nprobe', NPROBE), 'ivfpq': ('nprobe', NPROBE)}


def settings(method, n, d):
    if method == 'hnsw':
        return {'m': M, 'ef_construction': EF_CONSTRUCTION}
    if method in ('ivfsq8', 'ivfpq'):
        extra = {'nlist': max(1, round(4 * math.sqrt(n)))}
        if method == 'ivfpq':
            extra['pq_m'] = d // PQ_DIMS_PER_BYTE
        return extra
    return {}


def ivf_index(faiss, method, d, extra):
    quantizer = faiss.IndexFlatL2(d)
    if method == 'ivfpq':
        return faiss.IndexIVFPQ(quantizer, d, extra['nlist'], extra['pq_m'], 8)
    return faiss.IndexIVFScalarQuantizer(quantizer, d, extra['nlist'], faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2)


def build(args, faiss, np):
    rows = np.memmap(args.data, dtype='<f4', mode='r')
    if rows.size < args.n * args.d:
        fail(f'{args.data} holds {rows.size // args.d} rows of {args.d}, fewer than --n {args.n}')
    rows = rows[:args.n * args.d].reshape(args.n, args.d)
    extra = settings(args.method, args.n, args.d)
    start = time.perf_counter()
    if args.method == 'flat':
        index = faiss.IndexFlatL2(args.d)
    elif args.method == 'hnsw':
        index = faiss.IndexHNSWFlat(args.d, M)
        index.hnsw.efConstruction = EF_CONSTRUCTION
    else:
        index = ivf_index(faiss, args.method, args.d, extra)
        index.cp.niter = TRAIN_ITERATIONS
        sample = min(args.n, TRAIN_PER_LIST * extra['nlist'])
        picked = np.linspace(0, args.n - 1, sample).astype(np.int64)
        print(f'faiss {args.method}: training on {sample} rows…', file=sys.stderr)
        index.train(np.ascontiguousarray(rows[picked]))
        extra['train_rows'] = sample
    for first in range(0, args.n, ADD_CHUNK):
        index.add(np.ascontiguousarray(rows[first:first + ADD_CHUNK]))
        if (first // ADD_CHUNK) % 16 == 15:
            print(f'faiss {args.method}: added {first + ADD_CHUNK}/{args.n} rows ({time.perf_counter() - start:.0f} s)', file=sys.stderr)
    build_s = time.perf_counter() - start
    faiss.write_index(index, args.out)
    return {'build_s': build_s, 'bytes': os.path.getsize(args.out), **extra}


def set_knob(index, method, value):
    if method == 'hnsw':
        index.hnsw.efSearch = value
    elif method in ('ivfsq8', 'ivfpq'):
        index.nprobe = value


def measure(index, queries, truth, singles, batches):
    """Single queries one at a time after a warm-up on the last queries, then batches of BATCH; recall over both."""
    k = truth.shape[1]
    for q in range(len(queries) - WARMUP, len(queries)):
        index.search(queries[q:q + 1], k)
    answers = {}
    single_ms = []
    for q in range(singles):
        start = time.perf_counter()
        _, ids = index.search(queries[q:q + 1], k)
        single_ms.append(1000 * (time.perf_counter() - start))
        answers[q] = ids[0]
    batch_s = 0.0
    for b in range(batches):
        start = time.perf_counter()
        _, ids = index.search(queries[b * BATCH:(b + 1) * BATCH], k)
        batch_s += time.perf_counter() - start
        for i, row in enumerate(ids):
            answers[b * BATCH + i] = row
    found = sum(len(set(ids.tolist()) & set(truth[q].tolist())) for q, ids in answers.items())
    single_ms.sort()
    rank = lambda p: single_ms[min(len(single_ms) - 1, max(0, math.ceil(p * len(single_ms)) - 1))]
    return {
        'p50_ms': rank(0.5), 'p95_ms': rank(0.95), 'queries_timed': singles,
        'batch64_ms_per_query': 1000 * batch_s / (batches * BATCH) if batches else None, 'queries_batched': batches * BATCH,
        'recall_at_10': found / (len(answers) * k), 'queries_recall': len(answers),
    }


def serve(args, faiss, np):
    queries = np.fromfile(args.queries, dtype='<f4').reshape(-1, args.d)
    truth = np.fromfile(args.truth, dtype='<i4').reshape(len(queries), -1)
    index = faiss.read_index(args.index)
    singles = min(args.singles, len(queries))
    batches = min(args.batches, len(queries) // BATCH)
    knob = KNOBS.get(args.method)
    if knob is None:
        return {'points': [measure(index, queries, truth, singles, batches)], 'rss_mib': peak_rss_mib()}
    name, reference = knob
    values = [int(v) for v in args.sweep.split(',')] if args.sweep else [reference]
    points = []
    for value in values:
        set_knob(index, args.method, value)
        print(f'faiss {args.method}: {name} {value}…', file=sys.stderr)
        points.append({name: value, **measure(index, queries, truth, singles, batches)})
    return {'points': points, 'rss_mib': peak_rss_mib()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('action', choices=['build', 'serve'])
    p.add_argument('--method', choices=['flat', 'hnsw', 'ivfsq8', 'ivfpq'], required=True)
    p.add_argument('--d', type=int, required=True)
    p.add_argument('--data')
    p.add_argument('--n', type=int)
    p.add_argument('--out')
    p.add_argument('--index')
    p.add_argument('--queries')
    p.add_argument('--truth')
    p.add_argument('--singles', type=int, default=200)
    p.add_argument('--batches', type=int, default=15)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--sweep', help='values of the search knob (efSearch or nprobe), comma-separated')
    args = p.parse_args()
    try:
        import faiss
        import numpy as np
    except ImportError as e:
        fail(f'{sys.executable} cannot import faiss or numpy ({e}); install: {INSTALL}')
    faiss.omp_set_num_threads(args.threads)
    answer = build(args, faiss, np) if args.action == 'build' else serve(args, faiss, np)
    print(json.dumps({'faiss': faiss.__version__, 'threads': args.threads, **answer}))


if __name__ == '__main__':
    main()
