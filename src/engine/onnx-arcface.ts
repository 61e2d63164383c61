/**
 * Sub-center ArcFace (Deng et al. 2020; docs/model.md#loss-sub-center-arcface) as ONNX nodes, with its gradients
 * written out: cosine of each embedding to K sub-centres per class, max over a class's sub-centres,
 * additive angular margin m on the target class, scale s, cross-entropy averaged over the batch.
 * W is [D, classes·K], column k·K + j the j-th sub-centre of class k.
 */
import type { BackpropOps } from './onnx-backprop.js';

export interface ArcFaceSettings {
  classes: number;
  subCenters: number;
  marginDegrees: number;
  scale: number;
}

/** The paper's loss settings: K = 3, m = 17.2°, s = 64. */
export const PAPER_ARCFACE = { subCenters: 3, marginDegrees: 17.2, scale: 64 } as const;

/** Keeps the target cosine off ±1, where acos has no derivative. */
const CLIP = 1e-7;

export interface ArcFaceNodes {
  /** The mean loss, a scalar. */
  loss: string;
  /** ∂loss/∂embeddings [N, D] and ∂loss/∂W [D, classes·K]. */
  dEmbeddings: string;
  dW: string;
}

/**
 * The loss of `embeddings` [N, D] (raw descriptors) with one-hot labels `oneHot` [N, classes] and
 * class centres `W`, and its gradients.
 */
export function subCenterArcFace(
  g: BackpropOps,
  embeddings: string,
  oneHot: string,
  W: string,
  s: ArcFaceSettings,
): ArcFaceNodes {
  const one = g.scalar(1);
  const eNorm = g.safeNorm(embeddings, [1]); // [N, 1]
  const e = g.div(embeddings, eNorm);
  const wNorm = g.safeNorm(W, [0]); // [1, classes·K]
  const w = g.div(W, wNorm);
  const allCosines = g.reshape(g.node('MatMul', [e, w]), [-1, s.classes, s.subCenters]);
  const cos = g.node('ReduceMax', [allCosines, g.ints([2])], { keepdims: 0 }); // [N, classes]
  const rawTarget = g.reduceSum(g.mul(cos, oneHot), [1], 1); // [N, 1]
  const target = g.node('Clip', [rawTarget, g.scalar(-1 + CLIP), g.scalar(1 - CLIP)]);
  // cos(θ + m) = cos θ·cos m − sin θ·sin m, θ = acos(target) ∈ [0, π] so sin θ = √(1 − cos²θ).
  const m = (s.marginDegrees * Math.PI) / 180;
  const sine = g.node('Sqrt', [g.sub(one, g.mul(target, target))]);
  const withMargin = g.sub(g.mul(target, g.scalar(Math.cos(m))), g.mul(sine, g.scalar(Math.sin(m))));
  const others = g.sub(one, oneHot);
  const logits = g.mul(g.node('Add', [g.mul(cos, others), g.mul(withMargin, oneHot)]), g.scalar(s.scale));
  const logProbabilities = g.node('LogSoftmax', [logits], { axis: 1 });
  const loss = g.node('Neg', [
    g.node('ReduceMean', [g.reduceSum(g.mul(oneHot, logProbabilities), [1])], { keepdims: 0 }),
  ]);

  // Backward: cross-entropy, then the margin on the target class, then the max over sub-centres.
  const dLogits = g.div(g.sub(g.node('Exp', [logProbabilities]), oneHot), g.batchSize(embeddings));
  const scaled = g.mul(dLogits, g.scalar(s.scale));
  const dWithMargin = g.reduceSum(g.mul(scaled, oneHot), [1], 1);
  const slope = g.node('Add', [g.scalar(Math.cos(m)), g.div(g.mul(target, g.scalar(Math.sin(m))), sine)]);
  const inside = g.node(
    'Cast',
    [
      g.node('And', [
        g.node('GreaterOrEqual', [rawTarget, g.scalar(-1 + CLIP)]),
        g.node('LessOrEqual', [rawTarget, g.scalar(1 - CLIP)]),
      ]),
    ],
    { to: 1 },
  );
  const dTarget = g.mul(g.mul(dWithMargin, slope), inside);
  const dCos = g.node('Add', [g.mul(scaled, others), g.mul(dTarget, oneHot)]);
  const isMax = g.node('Cast', [g.node('Equal', [allCosines, g.node('Unsqueeze', [cos, g.ints([2])])])], { to: 1 });
  const dAll = g.reshape(g.mul(g.node('Unsqueeze', [dCos, g.ints([2])]), isMax), [-1, s.classes * s.subCenters]);
  const de = g.node('MatMul', [dAll, g.node('Transpose', [w], { perm: [1, 0] })]);
  const dw = g.node('MatMul', [g.node('Transpose', [e], { perm: [1, 0] }), dAll]);
  // Through the normalisations: dx = (dx̂ − x̂·Σ(dx̂·x̂)) / ‖x‖ along each normalised axis.
  const throughNorm = (dUnit: string, unit: string, norm: string, axis: number) =>
    g.div(g.sub(dUnit, g.mul(unit, g.reduceSum(g.mul(dUnit, unit), [axis], 1))), norm);
  return { loss, dEmbeddings: throughNorm(de, e, eNorm, 1), dW: throughNorm(dw, w, wNorm, 0) };
}
