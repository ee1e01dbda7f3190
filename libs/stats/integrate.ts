/**
 * Numerical quadrature for smooth one-dimensional integrands (posterior probabilities,
 * expected losses). Composite Gauss-Legendre; nodes and weights found once by Newton's
 * method on the Legendre recurrence (Golub-Welsch would give the same numbers).
 */

function gaussLegendre(order: number): { x: number[]; w: number[] } {
  const x: number[] = [];
  const w: number[] = [];
  for (let i = 1; i <= order; i++) {
    let z = Math.cos((Math.PI * (i - 0.25)) / (order + 0.5));
    let dp = 0;
    for (let iter = 0; iter < 100; iter++) {
      let p0 = 1;
      let p1 = z;
      for (let k = 2; k <= order; k++) {
        const p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = (order * (z * p1 - p0)) / (z * z - 1);
      const dz = p1 / dp;
      z -= dz;
      if (Math.abs(dz) < 1e-15) break;
    }
    x.push(z);
    w.push(2 / ((1 - z * z) * dp * dp));
  }
  return { x, w };
}

const GL = gaussLegendre(20);

/** Integral of f over [a, b] with `panels` equal panels of 20-point Gauss-Legendre. */
export function integrate(f: (x: number) => number, a: number, b: number, panels = 64): number {
  if (!(b > a)) return 0;
  const h = (b - a) / panels;
  let total = 0;
  for (let p = 0; p < panels; p++) {
    const mid = a + (p + 0.5) * h;
    let s = 0;
    for (let i = 0; i < GL.x.length; i++) s += GL.w[i] * f(mid + (GL.x[i] * h) / 2);
    total += (s * h) / 2;
  }
  return total;
}
