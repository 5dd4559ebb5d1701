/** /proc accounting and machineInfo now live in src/sim (they ship with `brigade bench`); re-exported for the scripts in bench/. */
export * from '../../src/sim/proc.ts';
