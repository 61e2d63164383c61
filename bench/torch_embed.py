"""PyTorch yardstick for bench/embed.ts: the reference LGFFEM (or its ConvNeXt V2 backbone) on CPU.

Times one warm-up batch and then --rounds batches of the input in --input (raw float32, NCHW),
and prints one JSON object to stdout: images/s from the median batch time, every batch time and
this process's peak RSS. A missing dependency prints {"error": ...} instead and exits with 2.

With --images DIR --out FILE instead of --input, it does what `histoseek embed DIR` does, as one
whole process for bench:embed's start-up-included case: reads every PNG in DIR (sorted), resizes
each to --input-size (bilinear), normalises with ImageNet's mean and std, embeds in batches of
--batch and writes the descriptors as .npy; it prints {"images": N}.

Run with Debian's python (python3-torch):  /usr/bin/python3 bench/torch_embed.py --input x.f32 ...
"""
import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

INSTALL = 'apt-get install python3-torch libopenblas0-openmp'
# The shared checkout sits next to the repository: <root>/../shared/reference.
DEFAULT_REFERENCE = Path(__file__).resolve().parents[2] / 'shared' / 'reference'


def fail(message):
    print(json.dumps({'error': message}))
    sys.exit(2)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--input', type=Path)
    p.add_argument('--images', type=Path)
    p.add_argument('--out', type=Path)
    p.add_argument('--part', choices=('full', 'backbone'), default='full')
    p.add_argument('--layout', choices=('nchw', 'channels_last'), default='nchw')
    p.add_argument('--preset', default='tiny')
    p.add_argument('--neck-channels', type=int, default=512)
    p.add_argument('--neck-layers', type=int, default=3)
    p.add_argument('--gem-p', type=float, default=4.6)
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--input-size', type=int, default=224)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--reference', type=Path, default=DEFAULT_REFERENCE)
    return p.parse_args()


def loaded_blas():
    """Files of the BLAS libraries mapped into this process: the one torch really uses."""
    with open('/proc/self/maps') as f:
        paths = {line.split()[-1] for line in f if '/' in line}
    return sorted(p for p in paths if 'blas' in Path(p).name)


def main():
    args = parse_args()
    try:
        import torch
    except ImportError as e:
        fail(f'{sys.executable} cannot import torch ({e}); install: {INSTALL}')
    if not (args.reference / 'lgffem_ref.py').is_file():
        fail(f'the PyTorch reference {args.reference}/lgffem_ref.py is missing (the shared checkout next to the repository)')
    # Debian's torch takes whichever libblas.so.3 is selected; only OpenMP OpenBLAS honours torch's thread count.
    blas = loaded_blas()
    if not any('openblas' in p and 'openmp' in p for p in blas):
        fail(f'torch uses {", ".join(blas) or "an unknown BLAS"}, not OpenBLAS built with OpenMP; install: {INSTALL}')

    sys.path.insert(0, str(args.reference))
    from lgffem_ref import LGFFEM, randomise

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    # The whole model even for the backbone, as on our side (randomModel builds every weight).
    model = LGFFEM(args.preset, args.neck_channels, args.neck_layers, args.gem_p)
    # Non-trivial weights like ours, so no path runs on degenerate values.
    randomise(model, torch.Generator().manual_seed(args.seed))
    model.eval()
    net = model if args.part == 'full' else model.backbone
    if args.images is not None:
        return embed_images(torch, net, args)
    if args.input is None:
        fail('give --input FILE, or --images DIR and --out FILE')

    shape = (args.batch, 3, args.input_size, args.input_size)
    x = torch.from_file(str(args.input), size=args.batch * 3 * args.input_size ** 2, dtype=torch.float32).view(shape)
    if args.layout == 'channels_last':
        # Converted once, outside the timing: the yardstick's best case.
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    seconds = []
    with torch.inference_mode():
        for i in range(1 + args.rounds):
            start = time.perf_counter()
            net(x)
            if i > 0:
                seconds.append(time.perf_counter() - start)
    print(json.dumps({
        'images_per_s': args.batch / statistics.median(seconds),
        'batch_seconds': seconds,
        # ru_maxrss is in KiB on Linux.
        'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'layout': args.layout,
        'torch': torch.__version__,
        'blas': blas,
    }))


def embed_images(torch, net, args):
    import numpy as np
    from PIL import Image

    files = sorted(args.images.glob('*.png'))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    if args.layout == 'channels_last':
        net = net.to(memory_format=torch.channels_last)
    out = []
    with torch.inference_mode():
        for first in range(0, len(files), args.batch):
            batch = [
                np.asarray(Image.open(f).convert('RGB').resize((args.input_size, args.input_size), Image.BILINEAR))
                for f in files[first:first + args.batch]
            ]
            x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float().div(255).sub(mean).div(std)
            if args.layout == 'channels_last':
                x = x.contiguous(memory_format=torch.channels_last)
            out.append(net(x).numpy())
    np.save(args.out, np.concatenate(out))
    print(json.dumps({'images': len(files)}))


if __name__ == '__main__':
    main()
