/** startBrigade now lives in src/sim (it ships with `brigade bench`); re-exported for the scripts in bench/. */
export * from '../../src/sim/listening.ts';
