/**
 * Small numeric helpers for the bench: percentiles over samples and the
 * formatting the table uses. No timing logic lives here.
 */

/** The p-th percentile (0–100) of `samples` by nearest rank; NaN when empty. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export const median = (samples: readonly number[]): number => percentile(samples, 50);

/** A number with a sensible number of significant digits for the table. */
export function fmt(n: number, unit = ''): string {
  if (!Number.isFinite(n)) return 'n/a';
  const abs = Math.abs(n);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  const text = n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit ? `${text} ${unit}` : text;
}

/** A difference with its sign always shown ("+0.25 ms", "-3 MB"), for the ratio column of delta rows. */
export function signed(n: number, unit = ''): string {
  return `${n >= 0 ? '+' : ''}${fmt(n, unit)}`;
}

/** Bytes as MB (10^6), the unit the targets are written in. */
export const mb = (bytes: number): number => bytes / 1e6;
