/**
 * A bound LIMIT or OFFSET that does not cost a re-prepare on every run.
 *
 * SQLite (3.53 here, better-sqlite3 12.9) plans a statement whose `LIMIT ?` or `OFFSET ?` is a bare
 * parameter with that parameter's bound value, and marks the statement expired whenever the
 * parameter is bound again; better-sqlite3 binds every parameter on every call, so such a statement
 * is parsed and planned again each time it runs. Measured on this machine: the jobs claim's ready
 * query 5.7 µs a run against 0.3 µs with a literal limit, the promote UPDATE 12.8 against 2.3
 * (docs/benchmarks-jobs.md, Follow-up 9). An expression over the parameter is evaluated when the
 * statement runs, never folded into its plan, so `LIMIT ${BOUND}` keeps one plan for every value.
 */
export const BOUND = '(? + 0)';
