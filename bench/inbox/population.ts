/**
 * The inbox benchmark's devices and expressions, the same for Brigade and both peers: device i's
 * groups and attributes are a function of (seed, i), so the coordinator, every device worker and
 * the SQLite peer derive the same population without shipping a million profiles around, and a
 * worker can tell which of its devices a message should reach.
 *
 * - 1,000 groups `g0`…`g999`. Device i is in 3: its band `g<i mod 10>` (10 bands of N/10 devices,
 *   the large groups such as "sports") and two of the 990 others, drawn from the seed.
 * - 10 attributes, 5 strings and 5 numbers: country (20 values), lang (8), os (3), tier (4),
 *   city (100); age (13–80), score (0–999), build (1000–1999), visits (0–9,999), rating (0.0–5.0).
 */
import { evaluate, parseExpression, type Expr, type Recipient, type Value } from '../../src/apps/inbox/expression.ts';
import { prng } from '../../src/util/prng.ts';

export interface Profile {
  groups: string[];
  attributes: Record<string, Value>;
}

const COUNTRIES = ['FR', 'DE', 'ES', 'IT', 'BE', 'CH', 'NL', 'PT', 'PL', 'SE', 'NO', 'DK', 'FI', 'AT', 'IE', 'GB', 'US', 'CA', 'BR', 'JP'];
const LANGS = ['fr', 'de', 'es', 'it', 'nl', 'pt', 'en', 'ja'];
const OSES = ['android', 'ios', 'web'];
const TIERS = ['free', 'basic', 'pro', 'team'];
export const BANDS = 10;
export const GROUPS = 1000;

/** Device i's profile under `seed`. */
export function profileOf(seed: number, i: number): Profile {
  const r = prng((seed * 0x9e3779b1) ^ (i * 0x85ebca6b) ^ 0x5bd1e995);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)];
  const other = () => `g${BANDS + Math.floor(r() * (GROUPS - BANDS))}`;
  const g1 = other();
  let g2 = other();
  while (g2 === g1) g2 = other();
  return {
    groups: [`g${i % BANDS}`, g1, g2],
    attributes: {
      country: pick(COUNTRIES), lang: pick(LANGS), os: pick(OSES), tier: pick(TIERS), city: `c${Math.floor(r() * 100)}`,
      age: 13 + Math.floor(r() * 68), score: Math.floor(r() * 1000), build: 1000 + Math.floor(r() * 1000),
      visits: Math.floor(r() * 10_000), rating: Math.round(r() * 50) / 10,
    },
  };
}

/**
 * The two recipient expressions of the run, five clauses each, each matching about half:
 * - `groups`: five band groups, exactly half. MQTT can deliver this one too (five topics), so it is
 *   the one the peers are measured on.
 * - `mixed`: groups, attributes, `in`, `not` and comparisons, which no topic scheme can express.
 */
export const EXPRESSIONS = {
  groups: 'group:g0 or group:g1 or group:g2 or group:g3 or group:g4',
  mixed: '(group:g0 or group:g1 or country in ["FR", "DE", "ES", "IT", "BE", "CH", "NL", "PT", "PL", "SE", "NO", "DK", "FI"]) and age >= 18 and not tier = "team"',
} as const;
export type ExpressionName = keyof typeof EXPRESSIONS;

/** The MQTT topics a device subscribes to: one per group. */
export const topicOf = (group: string) => `g/${group}`;
/** The groups of EXPRESSIONS.groups, for the MQTT publisher (one publish per topic). */
export const GROUPS_EXPRESSION_TOPICS = ['g0', 'g1', 'g2', 'g3', 'g4'].map(topicOf);

export function recipientOf(p: Profile, id = '0000000000000000'): Recipient {
  const groups = new Set(p.groups);
  return { id, hasGroup: (g) => groups.has(g), attr: (n) => (Object.hasOwn(p.attributes, n) ? p.attributes[n] : undefined) };
}

/** A matcher for an expression, by the inbox's own parser and evaluation. */
export function matcher(to: string): (p: Profile) => boolean {
  const expr: Expr = parseExpression(to);
  return (p) => evaluate(expr, recipientOf(p));
}
