/** k-means (Lloyd, k-means++ seeding), seeded: the same points and seed give the same clusters. */
import { Random } from './random.js';

export function kmeans(
  points: number[][],
  k: number,
  seed = 0,
  iterations = 25,
): { assignment: number[]; centroids: number[][] } {
  const n = points.length;
  k = Math.min(k, n);
  const random = new Random(seed);
  const dist = (a: number[], b: number[]) => a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0);
  const centroids = [points[random.int(n)].slice()];
  while (centroids.length < k) {
    const d = points.map((p) => Math.min(...centroids.map((c) => dist(p, c))));
    const total = d.reduce((a, b) => a + b, 0);
    let r = random.uniform() * total;
    let pick = d.findIndex((v) => (r -= v) <= 0);
    if (pick < 0 || total === 0) pick = random.int(n);
    centroids.push(points[pick].slice());
  }
  let assignment = new Array<number>(n).fill(0);
  for (let it = 0; it < iterations; it++) {
    const next = points.map((p) =>
      centroids.reduce((best, c, j) => (dist(p, c) < dist(p, centroids[best]) ? j : best), 0),
    );
    const changed = next.some((a, i) => a !== assignment[i]);
    assignment = next;
    centroids.forEach((c, j) => {
      const members = points.filter((_, i) => assignment[i] === j);
      if (members.length) c.forEach((_, d) => (c[d] = members.reduce((s, m) => s + m[d], 0) / members.length));
    });
    if (!changed && it > 0) break;
  }
  return { assignment, centroids };
}
