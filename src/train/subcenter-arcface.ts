/**
 * Sub-center ArcFace loss (Deng et al. 2020; spec §2): cosine of each embedding to K sub-centres
 * per class, max over a class's sub-centres, additive angular margin m on the target class, scale s,
 * cross-entropy. W is [D, classes·K].
 */
import * as tf from '@tensorflow/tfjs';
import { safeNorm } from '../engine/tfjs-ops.js';

export interface ArcFaceSettings {
  classes: number;
  subCenters: number;
  marginDegrees: number;
  scale: number;
}

export const PAPER_ARCFACE = { subCenters: 3, marginDegrees: 17.2, scale: 64 } as const;

/** Mean loss over the batch; `labels` are class indices in [0, classes). */
export function subCenterArcFaceLoss(
  embeddings: tf.Tensor2D,
  labels: number[],
  W: tf.Tensor2D,
  s: ArcFaceSettings,
): tf.Scalar {
  return tf.tidy(() => {
    const [n] = embeddings.shape;
    const e = tf.div(embeddings, safeNorm(embeddings, 1));
    const w = tf.div(W, safeNorm(W, 0));
    const cos = tf.max(tf.matMul(e, w).reshape([n, s.classes, s.subCenters]), 2);
    const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), s.classes).toFloat();
    const eps = 1e-7;
    const target = tf.clipByValue(tf.sum(tf.mul(cos, oneHot), 1, true), -1 + eps, 1 - eps);
    // cos(θ + m) = cos θ·cos m − sin θ·sin m, θ = acos(target) ∈ [0, π] so sin θ = √(1 − cos²θ).
    const m = (s.marginDegrees * Math.PI) / 180;
    const targetWithMargin = tf.sub(
      tf.mul(target, Math.cos(m)),
      tf.mul(tf.sqrt(tf.sub(1, tf.square(target))), Math.sin(m)),
    );
    const logits = tf.mul(tf.add(tf.mul(cos, tf.sub(1, oneHot)), tf.mul(targetWithMargin, oneHot)), s.scale);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
}
