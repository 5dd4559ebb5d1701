/** Deterministic PRNG (mulberry32), shared with the simulator and the benchmarks: seeded so a failing run reproduces. */
export { prng } from '../../src/util/prng.ts';
