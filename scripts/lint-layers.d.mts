// Types for scripts/lint-layers.mjs, for test/layers.test.ts.
export interface LayerViolation {
  type: string;
  from: string;
  to: string;
  rule: { name: string; severity: string };
  cycle?: unknown[];
}

export const CONFIG: string;
export const KNOWN_VIOLATIONS: string;

export function checkLayers(options?: { baseDir?: string; knownViolations?: LayerViolation[] }): Promise<{
  /** Violations that are not in knownViolations. */
  violations: LayerViolation[];
  /** Known violations that no longer occur. */
  stale: LayerViolation[];
  /** dependency-cruiser's `err` report. */
  report: string;
  /** Every violation found, as a known-violations file holds them. */
  baseline: LayerViolation[];
}>;
