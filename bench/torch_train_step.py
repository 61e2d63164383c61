"""PyTorch yardstick for one neck + head training step of LGFFEM (docs/model.md#training-recipe): forward on cached backbone
features, Sub-center ArcFace, backward, grad-norm clip, AdamW (amsgrad) for the model and for W.

Run: /usr/bin/python3 bench/torch_train_step.py REFERENCE_DIR --channels 512 --layers 3 --batch 8 --rounds 3
Prints one JSON object: median seconds per step and peak RSS.
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('reference')
    ap.add_argument('--preset', default='tiny')
    ap.add_argument('--channels', type=int, default=512)
    ap.add_argument('--layers', type=int, default=3)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--classes', type=int, default=24)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    sys.path.insert(0, a.reference)
    import lgffem_ref as ref

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dims, _ = ref.PRESETS[a.preset]
    model = ref.LGFFEM(a.preset, a.channels, a.layers)
    neck, head = model.neck, model.head
    neck.train()
    head.train()
    loss_fn = ref.SubCenterArcFace(a.classes, 4 * a.channels)
    params = list(neck.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=5e-3, weight_decay=1e-5, amsgrad=True)
    opt_w = torch.optim.AdamW(loss_fn.parameters(), lr=1e-4, amsgrad=True)
    strides = (4, 8, 16, 32)
    feats = [torch.randn(a.batch, d, a.size // s, a.size // s) for d, s in zip(dims, strides)]
    labels = torch.arange(a.batch) % a.classes

    def step():
        opt.zero_grad(set_to_none=True)
        opt_w.zero_grad(set_to_none=True)
        f = feats
        for layer in neck:
            f = layer(f)
        loss = loss_fn(head(f), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt_w.step()
        return loss.item()

    step()  # warm-up
    times = []
    for _ in range(a.rounds):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    print(json.dumps({
        'pytorch_s_per_step': statistics.median(times),
        'pytorch_peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'torch_version': torch.__version__,
    }))


if __name__ == '__main__':
    main()
