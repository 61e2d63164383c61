"""openslide-python yardstick for bench/slides.ts: the same tiling, tile by tile.

Reads a tile plan written by the caller (--plan, JSON: slide, level, read_width, read_height,
patch_size, positions [[x, y], ...] in level-0 pixels): for each position, read_region at the plan's
level (the best level for the downsample), RGBA to RGB, and a resize with PIL (Lanczos) to
patch_size² when the read size differs. Runs the whole list --warmup times untimed, then --rounds
times timed, and prints one JSON object: tiles, each round's seconds, the median tiles/s, the CPU
time per tile and the peak RSS. A missing dependency prints {"error": ...} and exits with 2.

Run with Debian's python (python3-openslide):  /usr/bin/python3 bench/openslide_tiles.py --plan p.json
"""
import argparse
import json
import statistics
import sys
import time

INSTALL = 'apt-get install python3-openslide'


def fail(message):
    print(json.dumps({'error': message}))
    sys.exit(2)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--plan', required=True)
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    return p.parse_args()


def peak_rss_mib():
    """VmHWM, the peak RSS of this process image. getrusage's ru_maxrss would not do: Linux carries
    it over from the parent across fork and exec, so a child reports at least its parent's peak."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('no VmHWM in /proc/self/status')


def main():
    args = parse_args()
    try:
        import openslide
        from PIL import Image
    except ImportError as e:
        fail(f'{sys.executable} cannot import openslide or PIL ({e}); install: {INSTALL}')
    with open(args.plan) as f:
        plan = json.load(f)
    level = plan['level']
    size = (plan['read_width'], plan['read_height'])
    patch = (plan['patch_size'], plan['patch_size'])
    positions = [tuple(p) for p in plan['positions']]
    slide = openslide.OpenSlide(plan['slide'])

    def tiling():
        for x, y in positions:
            tile = slide.read_region((x, y), level, size).convert('RGB')
            if size != patch:
                tile = tile.resize(patch, Image.LANCZOS)

    for _ in range(args.warmup):
        tiling()
    seconds = []
    cpu_start = time.process_time()
    for _ in range(args.rounds):
        start = time.perf_counter()
        tiling()
        seconds.append(time.perf_counter() - start)
    cpu_seconds = time.process_time() - cpu_start
    slide.close()
    print(json.dumps({
        'openslide_python': openslide.__version__,
        'openslide': openslide.__library_version__,
        'tiles': len(positions),
        'seconds': seconds,
        'tiles_per_s': len(positions) / statistics.median(seconds),
        'cpu_ms_per_tile': 1000 * cpu_seconds / (len(positions) * args.rounds),
        'peak_rss_mib': peak_rss_mib(),
    }))


if __name__ == '__main__':
    main()
