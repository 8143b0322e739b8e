// Runs the provider simulator with the demo accounts on its own:
//   node dist/simulators/provider/cli.js
// Environment: SIM_PORT (default 4010), SIM_HOST (default 127.0.0.1),
// SIM_TIME_SCALE (default 1), SIM_SEED, SIM_LATENCY_SCALE and the failure
// rates read by faultsFromEnv (SIM_FAIL_RATE, SIM_429_RATE, ...).

import { startProviderSimulator } from './index';
import { demoAccounts, DEMO_ACCOUNT_IDS, DEMO_KEYS, DEMO_MODELS } from './demo-accounts';

function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got "${raw}"`);
  return n;
}

async function main(): Promise<void> {
  const sim = await startProviderSimulator({
    accounts: demoAccounts(process.env),
    port: numberEnv('SIM_PORT', 4010),
    host: process.env.SIM_HOST || '127.0.0.1',
    timeScale: numberEnv('SIM_TIME_SCALE', 1),
    seed: numberEnv('SIM_SEED', 1),
  });
  console.log(`provider simulator listening on ${sim.url}`);
  for (const id of DEMO_ACCOUNT_IDS) console.log(`  ${id}: key ${DEMO_KEYS[id]}, models ${DEMO_MODELS[id].join(', ')}`);
  const stop = (): void => {
    for (const id of DEMO_ACCOUNT_IDS) {
      const s = sim.stats(DEMO_KEYS[id]);
      console.log(`  ${id}: ${s.requests} requests, ${s.completed} completed, ${s.rejected429} x 429, violations rpm ${s.rpmViolations} / concurrency ${s.concurrencyViolations}`);
    }
    void sim.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`provider simulator: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
