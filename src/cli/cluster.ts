/**
 * `brigade serve --workers N --redis URL`: N node processes on one port (node:cluster). Each
 * worker is a full node (hub, gateway, Redis engine); they share nothing but Redis and the data
 * directory's secrets, which the primary creates before forking so every worker signs alike.
 * The primary restarts a worker that dies and forwards SIGTERM/SIGINT for a graceful stop, and
 * closes the connections it had handed to a worker that died before taking them
 * (cluster-handoffs.ts).
 */
import cluster from 'node:cluster';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { usesRedis, type Config } from './config.ts';
import { persistentSecret } from './serve.ts';
import { closeHandoffsOnDeath } from './cluster-handoffs.ts';

export function isPrimaryOfCluster(config: Config): boolean {
  return config.workers > 1 && cluster.isPrimary;
}

export function runCluster(config: Config): Promise<number> {
  if (!usesRedis(config)) {
    process.stderr.write('brigade: --workers > 1 needs --redis: the embedded engine serves one process\n');
    return Promise.resolve(2);
  }
  const dataDir = resolve(config.data);
  mkdirSync(dataDir, { recursive: true });
  const env = {
    BRIGADE_ADMIN_TOKEN: persistentSecret(dataDir, 'admin-token', String(config.app.place?.adminToken ?? '')),
    BRIGADE_IDENTITY_SECRET: persistentSecret(dataDir, 'identity-secret', config.identitySecret),
  };
  let stopping = false;
  const fork = (index: number) => {
    const worker = cluster.fork({ ...env, BRIGADE_WORKER: String(index) });
    // A connection handed to this worker just as it dies would otherwise stay open, unanswered.
    closeHandoffsOnDeath(worker);
    worker.on('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(`brigade: worker ${index} exited (${signal ?? code}); starting a new one\n`);
      setTimeout(() => fork(index), 500);
    });
  };
  for (let i = 0; i < config.workers; i++) fork(i);
  return new Promise((done) => {
    const stop = () => {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {});
      let left = workers.length;
      if (left === 0) done(0);
      for (const w of workers) {
        w?.once('exit', () => { if (--left === 0) done(0); });
        w?.process.kill('SIGTERM');
      }
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
