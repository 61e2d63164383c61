/** The tissue classes, each drawn procedurally in stain-density space from the primitives: nuclei,
 *  fibres, glands, fat cells and granular debris. Sizes are in px at 0.5 µm/px (a lymphocyte nucleus
 *  is about 7 µm, so ~12 px across). */
import type { Random } from '../../util/random.js';
import { blendDisc, createDensity, type Density } from './density.js';
import { paintFat } from './fat.js';
import { FibreField } from './fibres.js';
import { EPITHELIUM, LUMEN, makeGland, rasterGlands, type GlandMap } from './glands.js';
import { ValueNoise, smoothstep } from './noise.js';
import { stampNucleus, type Nucleus } from './nuclei.js';
import { between, jitteredGrid } from './rand.js';

export const TISSUE_CLASSES = ['tumour', 'stroma', 'lymphocytes', 'adipose', 'mucosa', 'debris'] as const;
export type TissueClass = (typeof TISSUE_CLASSES)[number];

/** Render `width × height` of tissue of one class. */
export function renderTissue(cls: TissueClass, width: number, height: number, rng: Random): Density {
  if (!Object.hasOwn(RENDERERS, cls)) throw new RangeError(`unknown tissue class ${JSON.stringify(cls)}`);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`tissue size must be positive integers, got ${width}×${height}`);
  }
  const d = createDensity(width, height);
  RENDERERS[cls](d, rng);
  return d;
}

const RENDERERS: Record<TissueClass, (d: Density, rng: Random) => void> = {
  tumour: drawTumour,
  stroma: drawStroma,
  lymphocytes: drawLymphocytes,
  adipose: drawAdipose,
  mucosa: drawMucosa,
  debris: drawDebris,
};

/** How a nucleus looks, where most are solid and have no nucleolus: those two default to 0. */
type NucleusLook = Omit<Nucleus, 'x' | 'y' | 'vesicular' | 'nucleolus'> &
  Partial<Pick<Nucleus, 'vesicular' | 'nucleolus'>>;

function nucleus(x: number, y: number, look: NucleusLook): Nucleus {
  return { x, y, vesicular: 0, nucleolus: 0, ...look };
}

/** Direction of increasing epithelial depth (lumen → base) at a pixel, for orienting nuclei
 *  perpendicular to the lumen surface as in columnar epithelium. */
function depthAngle(map: GlandMap, width: number, height: number, x: number, y: number): number {
  const xi = Math.min(width - 2, Math.max(1, Math.round(x)));
  const yi = Math.min(height - 2, Math.max(1, Math.round(y)));
  const at = (xx: number, yy: number) => Math.max(0, map.depth[yy * width + xx]!);
  return Math.atan2(at(xi, yi + 1) - at(xi, yi - 1), at(xi + 1, yi) - at(xi - 1, yi));
}

function inside(d: Density, x: number, y: number): number {
  const xi = Math.round(x);
  const yi = Math.round(y);
  return xi >= 0 && yi >= 0 && xi < d.width && yi < d.height ? yi * d.width + xi : -1;
}

/** Adenocarcinoma: crowded, fused, irregular glands lined by stratified, enlarged, pleomorphic,
 *  vesicular nuclei with nucleoli; thin desmoplastic stroma between them; dirty necrosis in some lumens. */
function drawTumour(d: Density, rng: Random): void {
  const { width, height } = d;
  new FibreField(rng, { eosin: 0.6, haematoxylin: 0.1, thickness: 9, waviness: 40, clefts: 0.5 }).paint(d);
  const glands = jitteredGrid(rng, width, height, 135, 0.45).map(([x, y]) =>
    makeGland(rng, x, y, rng.uniform() < 0.2 ? between(rng, 3, 8) : between(rng, 15, 50), between(rng, 38, 60), 0.5),
  );
  const map = rasterGlands(width, height, glands);
  const tex = new ValueNoise(rng);
  const necrosis = new ValueNoise(rng);
  for (let i = 0; i < width * height; i++) {
    const x = i % width;
    const y = (i - x) / width;
    if (map.zone[i] === EPITHELIUM) {
      d.e[i] = 0.36 * (1 + 0.25 * tex.fbm(x / 9, y / 9, 2));
      d.h[i] = 0.2 * (1 + 0.3 * tex.at(x / 5 + 50, y / 5));
    } else if (map.zone[i] === LUMEN) {
      const dirty = smoothstep(0.15, 0.5, necrosis.fbm(x / 120, y / 120, 3));
      const grain = 0.5 + 0.5 * tex.at(x / 2.5, y / 2.5);
      d.e[i] = dirty * 0.45 * grain;
      d.h[i] = dirty * 0.15 * grain;
    }
  }
  for (const [x, y] of jitteredGrid(rng, width, height, 10, 0.45)) {
    const i = inside(d, x, y);
    if (i < 0) continue;
    if (map.zone[i] === LUMEN) {
      // Nuclear dust in the necrotic lumens.
      if (d.e[i]! > 0.12 && rng.uniform() < 0.25) stampNucleus(d, roundNucleus(rng, x, y, ROUND_CELLS.fragment), tex);
      continue;
    }
    // Nuclei crowd the basal two thirds; the apical cytoplasm next to the lumen stays pink.
    if (map.zone[i] !== EPITHELIUM || map.depth[i]! < 0.28 || rng.uniform() < 0.1) continue;
    const a = 6 * Math.exp(0.22 * rng.normal());
    stampNucleus(
      d,
      nucleus(x, y, {
        a: Math.min(15, a * between(rng, 1, 1.6)),
        b: a * between(rng, 0.55, 0.85),
        angle: depthAngle(map, width, height, x, y) + 0.35 * rng.normal(),
        density: between(rng, 1.0, 1.5),
        chromatin: between(rng, 0.5, 0.9),
        vesicular: between(rng, 0.2, 0.7),
        irregular: between(rng, 0.08, 0.22),
        nucleolus: rng.uniform() < 0.5 ? between(rng, 1.5, 1.9) : 0,
      }),
      tex,
    );
  }
}

/** The look of a small solid round nucleus: ranges its size, shape and darkness are drawn from. */
interface RoundNucleusLook {
  /** Range of the long semi-axis `a`, in px. */
  size: [number, number];
  /** The short semi-axis is `a` times a value drawn from [roundness, 1]. */
  roundness: number;
  density: [number, number];
  chromatin: number;
  irregular: number;
}

/** A small solid roundish nucleus at (x, y), in any orientation: lymphocytes, plasma cells, nuclear
 *  fragments. Draws from `rng` in a fixed order (size, roundness, angle, density): the slides and
 *  patches of a seed depend on it. */
function roundNucleus(rng: Random, x: number, y: number, look: RoundNucleusLook): Nucleus {
  const a = between(rng, ...look.size);
  return nucleus(x, y, {
    a,
    b: a * between(rng, look.roundness, 1),
    angle: between(rng, 0, Math.PI),
    density: between(rng, ...look.density),
    chromatin: look.chromatin,
    irregular: look.irregular,
  });
}

/** Round cells: lymphocytes; the lamina propria's scattered cells, smaller and paler than lymphoid
 *  tissue's; and fragments of broken-up nuclei (karyorrhexis), small, dense and irregular. */
const ROUND_CELLS = {
  lymphocyte: { size: [4.3, 5.8], roundness: 0.82, density: [1.35, 1.75], chromatin: 0.35, irregular: 0.08 },
  laminaPropria: { size: [3.8, 5], roundness: 0.8, density: [1.2, 1.5], chromatin: 0.35, irregular: 0.08 },
  fragment: { size: [1.2, 3.2], roundness: 0.6, density: [1.3, 1.9], chromatin: 0.2, irregular: 0.3 },
} satisfies Record<string, RoundNucleusLook>;

/** Fibrous stroma: pink wavy collagen bundles with clefts and sparse spindle nuclei along them, and
 *  the odd capillary with red cells. */
function drawStroma(d: Density, rng: Random): void {
  const { width, height } = d;
  const fibres = new FibreField(rng, {
    eosin: between(rng, 0.6, 0.9),
    haematoxylin: 0.08,
    thickness: between(rng, 8, 14),
    waviness: between(rng, 25, 60),
    clefts: between(rng, 0.4, 0.8),
  });
  fibres.paint(d);
  const tex = new ValueNoise(rng);
  for (const [x, y] of jitteredGrid(rng, width, height, 180, 0.4)) {
    if (rng.uniform() < 0.5) drawCapillary(d, rng, x, y, tex);
  }
  for (const [x, y] of jitteredGrid(rng, width, height, 48, 0.45)) {
    if (rng.uniform() < 0.3) continue;
    const a = between(rng, 9, 16);
    stampNucleus(
      d,
      nucleus(x, y, {
        a,
        b: between(rng, 1.8, 3.2),
        angle: fibres.angleAt(x, y) + 0.15 * rng.normal(),
        density: between(rng, 0.9, 1.3),
        chromatin: 0.3,
        irregular: 0.05,
      }),
      tex,
    );
  }
}

/** A nucleus flattened against a wall (of a vessel, of a fat cell), its long axis `a` along `angle`. */
function flatNucleus(x: number, y: number, a: number, b: number, angle: number): Nucleus {
  return nucleus(x, y, { a, b, angle, density: 1.1, chromatin: 0.2, irregular: 0.05 });
}

/** A small vessel in cross-section: a thin endothelial ring around a lumen holding red cells. */
function drawCapillary(d: Density, rng: Random, x: number, y: number, tex: ValueNoise): void {
  const r = between(rng, 8, 18);
  blendDisc(d, x, y, r + 2, 0.08, 0.55);
  blendDisc(d, x, y, r, 0, 0.02);
  const cells = Math.round((r * r) / 12);
  for (let k = 0; k < cells; k++) {
    const t = between(rng, 0, 2 * Math.PI);
    const q = Math.sqrt(rng.uniform()) * (r - 3);
    // Red cells: strongly eosinophilic, no haematoxylin.
    blendDisc(d, x + q * Math.cos(t), y + q * Math.sin(t), between(rng, 2.8, 3.6), 0.02, 0.95);
  }
  const endothelial = 1 + rng.int(2);
  for (let k = 0; k < endothelial; k++) {
    const t = between(rng, 0, 2 * Math.PI);
    stampNucleus(d, flatNucleus(x + (r + 1) * Math.cos(t), y + (r + 1) * Math.sin(t), 6, 2, t + Math.PI / 2), tex);
  }
}

/** The ground substance between cells: eosin mottled ±30 % by noise of feature size `scale`, even haematoxylin. */
function fillGround(d: Density, tex: ValueNoise, eosin: number, scale: number, haematoxylin: number): void {
  for (let i = 0; i < d.width * d.height; i++) {
    const x = i % d.width;
    const y = (i - x) / d.width;
    d.e[i] = eosin * (1 + 0.3 * tex.fbm(x / scale, y / scale, 2));
    d.h[i] = haematoxylin;
  }
}

/** Lymphoid tissue: sheets of small, round, dense, dark nuclei with scant cytoplasm; density varies
 *  gently; scattered larger pale macrophages. */
function drawLymphocytes(d: Density, rng: Random): void {
  const { width, height } = d;
  const tex = new ValueNoise(rng);
  const crowd = new ValueNoise(rng);
  fillGround(d, tex, 0.2, 12, 0.14);
  for (const [x, y] of jitteredGrid(rng, width, height, 150, 0.4)) {
    if (rng.uniform() < 0.6) continue;
    blendDisc(d, x, y, between(rng, 13, 18), 0.12, 0.32);
    stampNucleus(
      d,
      nucleus(x, y, {
        a: 8,
        b: 6,
        angle: between(rng, 0, Math.PI),
        density: 0.55,
        chromatin: 0.4,
        vesicular: 0.7,
        irregular: 0.1,
      }),
      tex,
    );
  }
  for (const [x, y] of jitteredGrid(rng, width, height, 11.5, 0.35)) {
    if (rng.uniform() > 0.85 + 0.13 * crowd.fbm(x / 200, y / 200, 2)) continue;
    stampNucleus(d, roundNucleus(rng, x, y, ROUND_CELLS.lymphocyte), tex);
  }
}

/** Adipose tissue: large empty fat cells with thin pink walls, the odd flattened nucleus on a wall. */
function drawAdipose(d: Density, rng: Random): void {
  const { width, height } = d;
  const cell = between(rng, 110, 170);
  const count = Math.round((width * height) / (cell * cell * 3));
  const tex = new ValueNoise(rng);
  for (const p of paintFat(d, rng, { cell, wall: between(rng, 1.2, 2.0), eosin: 0.5 }, count)) {
    stampNucleus(d, flatNucleus(p.x, p.y, between(rng, 5, 8), 1.8, p.angle), tex);
  }
}

/** Normal colonic mucosa: regular round crypts, each a small central lumen ringed by goblet cells
 *  (pale mucin vacuoles) with small basal nuclei, in a lamina propria of scattered round cells. */
function drawMucosa(d: Density, rng: Random): void {
  const { width, height } = d;
  const tex = new ValueNoise(rng);
  fillGround(d, tex, 0.34, 15, 0.17);
  const spacing = between(rng, 130, 160);
  const glands = jitteredGrid(rng, width, height, spacing, 0.2).map(([x, y]) =>
    makeGland(rng, x, y, between(rng, 8, 16), spacing * between(rng, 0.3, 0.36), 0.15),
  );
  const map = rasterGlands(width, height, glands);
  for (let i = 0; i < width * height; i++) {
    if (map.zone[i] === EPITHELIUM) {
      d.e[i] = 0.25;
      d.h[i] = 0.07;
    } else if (map.zone[i] === LUMEN) {
      d.e[i] = 0.03;
      d.h[i] = 0.06;
    }
  }
  for (const [x, y] of jitteredGrid(rng, width, height, 10, 0.3)) {
    const i = inside(d, x, y);
    if (i < 0 || map.zone[i] !== EPITHELIUM) continue;
    const depth = map.depth[i]!;
    // Goblet mucin: pale grey-blue vacuoles packed into the apical two thirds of the epithelium.
    if (depth > 0.08 && depth < 0.68 && rng.uniform() < 0.9) blendDisc(d, x, y, between(rng, 4.2, 5.8), 0.17, 0.05);
  }
  for (const [x, y] of jitteredGrid(rng, width, height, 5.5, 0.3)) {
    const i = inside(d, x, y);
    if (i < 0) continue;
    const depth = map.depth[i]!;
    if (map.zone[i] === EPITHELIUM && depth > 0.76 && depth < 0.95 && rng.uniform() < 0.85) {
      stampNucleus(
        d,
        nucleus(x, y, {
          a: between(rng, 5, 6.5),
          b: between(rng, 2.2, 2.8),
          angle: depthAngle(map, width, height, x, y),
          density: between(rng, 1.0, 1.25),
          chromatin: 0.3,
          irregular: 0.05,
        }),
        tex,
      );
    } else if (map.zone[i] !== EPITHELIUM && map.zone[i] !== LUMEN && rng.uniform() < 0.1) {
      stampNucleus(d, roundNucleus(rng, x, y, ROUND_CELLS.laminaPropria), tex);
    }
  }
}

/** Necrotic debris: patchy granular pink material, pale ghosts of dead cells, clusters of nuclear
 *  dust, strands of grey-blue mucus and empty cracks. */
function drawDebris(d: Density, rng: Random): void {
  const { width, height } = d;
  const tex = new ValueNoise(rng);
  const patch = new ValueNoise(rng);
  const mucus = new ValueNoise(rng);
  for (let i = 0; i < width * height; i++) {
    const x = i % width;
    const y = (i - x) / width;
    const amount = 0.15 + 0.85 * smoothstep(-0.45, 0.2, patch.fbm(x / 70, y / 70, 4));
    const grain = 0.55 + 0.45 * tex.at(x / 2.2, y / 2.2);
    const strand = 0.8 * smoothstep(0.1, 0.5, mucus.fbm(x / 160, y / 40, 4));
    d.e[i] = amount * 0.65 * grain * (1 - strand) + strand * 0.08;
    d.h[i] = amount * 0.17 * grain * (1 - strand) + strand * 0.18 * (0.7 + 0.3 * grain);
  }
  for (const [x, y] of jitteredGrid(rng, width, height, 30, 0.45)) {
    const i = inside(d, x, y);
    if (i < 0 || d.e[i]! < 0.12 || rng.uniform() < 0.4) continue;
    // Ghost of a dead cell: faint outline of a nucleus that lost its chromatin.
    stampNucleus(
      d,
      nucleus(x, y, {
        a: between(rng, 5, 8),
        b: between(rng, 4, 6),
        angle: between(rng, 0, Math.PI),
        density: 0.35,
        chromatin: 0.4,
        vesicular: 0.9,
        irregular: 0.2,
      }),
      tex,
    );
  }
  for (const [cx, cy] of jitteredGrid(rng, width, height, 55, 0.45)) {
    const n = 4 + rng.int(18);
    for (let k = 0; k < n; k++) {
      const x = cx + 14 * rng.normal();
      const y = cy + 14 * rng.normal();
      const i = inside(d, x, y);
      if (i >= 0 && d.e[i]! > 0.08) stampNucleus(d, roundNucleus(rng, x, y, ROUND_CELLS.fragment), tex);
    }
  }
}
