/**
 * RAM per registered inbox device (docs/inbox.md "The world-view"): registers N devices in a
 * DeviceStore as the registry fold does, each in 3 of 1,000 groups with 10 attributes (5 integers,
 * 5 strings drawn from small sets, as country or plan are), and prints the heap and array-buffer
 * bytes the store holds per device, measured after a full GC before and after.
 *
 *   node --expose-gc --import tsx scripts/inbox-device-ram.ts [N=1000000]
 */
import { DeviceStore, idToHex } from '../src/apps/inbox/devices.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const n = Number(process.argv[2] ?? 1_000_000);

let seed = 12345;
const rand = (k: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % k;
};
const COUNTRIES = ['FR', 'DE', 'BE', 'CH', 'US', 'GB', 'ES', 'IT', 'NL', 'SE', 'PL', 'PT', 'JP', 'BR', 'IN', 'CA'];
const LANGS = ['fr', 'de', 'en', 'es', 'it', 'nl', 'pt', 'ja'];
const OSES = ['ios', 'android', 'web'];
const PLANS = ['free', 'pro', 'team'];

const used = () => {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

const before = used();
const store = new DeviceStore();
for (let i = 0; i < n; i++) {
  const id = idToHex((rand(1 << 24) * 256 + (i & 255)) >>> 0, (Math.imul(i, 2654435761) >>> 0));
  store.register(id, {
    groups: [`g${rand(1000)}`, `g${rand(1000)}`, `g${rand(1000)}`],
    attributes: {
      age: 13 + rand(80), score: rand(100_000), visits: rand(5000), version: 100 + rand(50), tz: rand(24) - 12,
      country: COUNTRIES[rand(COUNTRIES.length)], lang: LANGS[rand(LANGS.length)], os: OSES[rand(OSES.length)],
      plan: PLANS[rand(PLANS.length)], city: `c${rand(1000)}`,
    },
  }, 1_700_000_000_000 + i, i + 1);
}
const after = used();
const perDevice = (after - before) / n;
console.log(JSON.stringify({
  devices: store.size, bytesPerDevice: Math.round(perDevice * 10) / 10,
  arrayBytesPerDevice: Math.round((store.arrayBytes() / n) * 10) / 10,
  node: process.version,
}));
