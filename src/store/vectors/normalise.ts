/** Descriptors as the stores keep them: each row's norm ‖f_e‖, and the unit vector f_e / ‖f_e‖. */

/** The L2 norm of each row of an n × dim matrix. */
export function rowNorms(raw: Float32Array, dim: number): Float32Array {
  const norms = new Float32Array(raw.length / dim);
  for (let r = 0; r < norms.length; r++) {
    let sum = 0;
    for (let i = r * dim; i < (r + 1) * dim; i++) sum += raw[i] * raw[i];
    norms[r] = Math.sqrt(sum);
  }
  return norms;
}

/** Divides each row of an n × dim matrix by its L2 norm (docs/model.md#descriptor: the index holds f_e / ‖f_e‖). */
export function normaliseRows(raw: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(raw.length);
  rowNorms(raw, dim).forEach((norm, r) => {
    const scale = 1 / Math.max(norm, 1e-12);
    for (let i = r * dim; i < (r + 1) * dim; i++) out[i] = raw[i] * scale;
  });
  return out;
}
