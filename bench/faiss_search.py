"""FAISS yardstick for bench/search.ts: exact search with IndexFlatL2 on the same vectors.

Reads the database (--data, raw float32 rows of --dim) and the queries (--queries, same layout):
the first --single queries are searched one at a time, the next --batches × --batch in batches.
For each --counts N (a prefix of the database) it prints, in one JSON object on stdout, the median
ms per query of both modes, and every query's top-k ids and squared L2 distances, so that the
caller can check them against its own. A missing dependency prints {"error": ...} and exits with 2.

Run with Debian's python (python3-faiss):  /usr/bin/python3 bench/faiss_search.py --data x.f32 ...
"""
import argparse
import json
import statistics
import sys
import time

INSTALL = 'apt-get install python3-faiss'


def fail(message):
    print(json.dumps({'error': message}))
    sys.exit(2)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', required=True)
    p.add_argument('--queries', required=True)
    p.add_argument('--dim', type=int, required=True)
    p.add_argument('--counts', required=True, help='comma-separated database sizes (prefixes of --data)')
    p.add_argument('--single', type=int, default=21)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--batches', type=int, default=5)
    p.add_argument('--k', type=int, default=10)
    p.add_argument('--threads', type=int, default=2)
    return p.parse_args()


def timed(search, queries):
    """Searches once untimed (warm-up), then each query block once; returns per-block seconds and results."""
    search(queries[0])
    seconds, ids, distances = [], [], []
    for q in queries:
        start = time.perf_counter()
        d, i = search(q)
        seconds.append(time.perf_counter() - start)
        ids.extend(i.tolist())
        distances.extend(d.tolist())
    return seconds, ids, distances


def main():
    args = parse_args()
    try:
        import faiss
        import numpy as np
    except ImportError as e:
        fail(f'{sys.executable} cannot import faiss or numpy ({e}); install: {INSTALL}')
    faiss.omp_set_num_threads(args.threads)
    data = np.fromfile(args.data, dtype='<f4').reshape(-1, args.dim)
    queries = np.fromfile(args.queries, dtype='<f4').reshape(-1, args.dim)
    needed = args.single + args.batch * args.batches
    if len(queries) < needed:
        fail(f'{args.queries} holds {len(queries)} queries, {needed} needed')
    singles = [queries[i:i + 1] for i in range(args.single)]
    batches = [queries[args.single + b * args.batch:args.single + (b + 1) * args.batch] for b in range(args.batches)]

    cases = {}
    for count in (int(c) for c in args.counts.split(',')):
        index = faiss.IndexFlatL2(args.dim)
        index.add(data[:count])
        search = lambda q: index.search(q, args.k)
        for mode, blocks, per_block in (('single', singles, 1), (f'batch{args.batch}', batches, args.batch)):
            print(f'faiss: n={count} {mode}…', file=sys.stderr)
            seconds, ids, distances = timed(search, blocks)
            cases[f'n{count}_{mode}'] = {
                'ms_per_query': 1000 * statistics.median(seconds) / per_block,
                'ids': ids,
                'distances': distances,
            }
        del index
    print(json.dumps({'faiss': faiss.__version__, 'threads': args.threads, 'cases': cases}))


if __name__ == '__main__':
    main()
