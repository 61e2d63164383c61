"""PyTorch yardstick for bench/embed-vit.ts: a Vision Transformer with random weights on the CPU.

The model is the parity tests' reference, test/fixtures/tools/vit_ref.py (timm's VisionTransformer
restated), built from the architecture in --arch (histoseek's VitArch as JSON) and given the
weights of vit_ref.randomise, which src/model/vit-weights.ts randomVitWeights computes bit for bit:
both sides run the same function.

--input holds up to --batch-max images, raw float32 NCHW, normalised with ImageNet's mean and std
as histoseek's embedders are fed; they are renormalised once to the model's own mean and std (what
histoseek folds into the patch embedding). The script stays up and answers one JSON line on stdout
for each request line on stdin, so that the benchmark can alternate it with its own workers:
  {"op": "run", "batch": B}  → {"seconds": s}: one forward pass over the first B images (inference mode)
  {"op": "embed"}            → {"embedding": [...]}: the first image's descriptor, for the agreement check
  {"op": "rss"}              → {"peak_rss_mib": m}
Its first line says it is ready (torch version, BLAS and OpenBLAS's kernel set, threads); a missing
dependency prints {"error": ...} instead and exits with 2.

Run with Debian's python (python3-torch):  /usr/bin/python3 bench/torch_vit.py --arch '{...}' --input x.f32 ...
"""
import argparse
import ctypes
import json
import os
import resource
import sys
import time
from pathlib import Path

from torch_embed import INSTALL, fail, loaded_blas

VIT_REF = Path(__file__).resolve().parents[1] / 'test' / 'fixtures' / 'tools'
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', required=True, help="histoseek's VitArch as JSON")
    p.add_argument('--input', type=Path, required=True)
    p.add_argument('--batch-max', type=int, required=True)
    p.add_argument('--input-size', type=int, default=224)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args()


def timm_terms(arch):
    """vit_ref's model dict for a VitArch: the inverse of vit_ref.vit_arch."""
    m = dict(patch_size=arch['patchSize'], img_size=arch['imageSize'], embed_dim=arch['embedDim'],
             depth=arch['depth'], num_heads=arch['heads'], mlp_ratio=arch['mlpHidden'] / arch['embedDim'],
             swiglu=arch['mlp'] == 'swiglu', reg_tokens=arch['regTokens'],
             no_embed_class=not arch['posEmbedPrefix'], pool=arch['pooling'],
             mean=list(arch['mean']), std=list(arch['std']))
    if arch['layerScale']:
        m['init_values'] = 1e-5  # any value: randomise overwrites LayerScale's gamma
    return m


def openblas_kernels(blas):
    """The kernel set OpenBLAS picked for this CPU (OPENBLAS_CORETYPE overrides it) and its build line."""
    for path in blas:
        if 'openblas' in Path(path).name:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode(), lib.openblas_get_config().decode()
    return None, None


def answer(record):
    sys.stdout.write(json.dumps(record) + '\n')
    sys.stdout.flush()


def main():
    args = parse_args()
    try:
        import torch
    except ImportError as e:
        fail(f'{sys.executable} cannot import torch ({e}); install: {INSTALL}')
    blas = loaded_blas()
    if not any('openblas' in p and 'openmp' in p for p in blas):
        fail(f'torch uses {", ".join(blas) or "an unknown BLAS"}, not OpenBLAS built with OpenMP; install: {INSTALL}')
    if not (VIT_REF / 'vit_ref.py').is_file():
        fail(f'the ViT reference {VIT_REF}/vit_ref.py is missing')
    sys.path.insert(0, str(VIT_REF))
    import vit_ref

    start = time.perf_counter()
    arch = json.loads(args.arch)
    m = timm_terms(arch)
    # The round trip holds the translation honest: the reference builds exactly the architecture asked for.
    if json.dumps(vit_ref.vit_arch(m), sort_keys=True) != json.dumps(arch, sort_keys=True):
        fail(f'vit_ref builds {vit_ref.vit_arch(m)}, not the architecture asked for {arch}')
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    model = vit_ref.VisionTransformer(m, m['depth']).eval()
    vit_ref.randomise(model, args.seed)

    size = args.input_size
    shape = (args.batch_max, 3, size, size)
    x = torch.from_file(str(args.input), size=args.batch_max * 3 * size * size, dtype=torch.float32).view(shape)

    def channels(values):
        return torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1)

    x = ((x * channels(IMAGENET_STD) + channels(IMAGENET_MEAN) - channels(m['mean'])) / channels(m['std'])).contiguous()
    corename, config = openblas_kernels(blas)
    answer({'ready': True, 'load_s': time.perf_counter() - start, 'torch': torch.__version__, 'blas': blas,
            'openblas_corename': corename, 'openblas_config': config,
            'openblas_coretype_env': os.environ.get('OPENBLAS_CORETYPE'),
            'threads': torch.get_num_threads()})

    with torch.inference_mode():
        for line in sys.stdin:
            request = json.loads(line)
            if request['op'] == 'run':
                batch = x[:request['batch']]
                start = time.perf_counter()
                model(batch)
                answer({'seconds': time.perf_counter() - start})
            elif request['op'] == 'embed':
                answer({'embedding': model(x[:1])[0].tolist()})
            elif request['op'] == 'rss':
                # ru_maxrss is in KiB on Linux.
                answer({'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
            else:
                answer({'error': f'unknown request {line.strip()}'})


if __name__ == '__main__':
    main()
