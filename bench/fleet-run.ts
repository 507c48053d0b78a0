import { runFleet } from './fleet.ts';
import type { FleetFigures } from './fleet-report.ts';

/** ROLLOUT_TICK_SECONDS as deployed (lib/config.ts), and the seed of the failing workflows. */
export const FLEET_SETTINGS = {
  tickSeconds: Number(process.env.BENCH_FLEET_TICK_SECONDS ?? 60),
  seed: Number(process.env.BENCH_FLEET_SEED ?? 1),
};

/** The fleet part of `npm run bench`: every scenario, with the real time it took. */
export async function measureFleet(
  definition: Record<string, unknown>,
  print: (line: string) => void,
): Promise<FleetFigures> {
  const began = performance.now();
  const figures = await runFleet(definition, FLEET_SETTINGS, undefined, print);
  return { ...figures, realSeconds: (performance.now() - began) / 1000 };
}
