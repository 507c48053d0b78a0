import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Upstreams } from './upstreams.ts';

const run = promisify(execFile);

/** What bench/cpu-child.ts measures: the function's warm invocations, or the bare loop's iterations. */
export type CpuJob =
  | { kind: 'function'; bundleFile: string; environment: Record<string, string>; events: unknown[] }
  | {
      kind: 'bare';
      upstreams: Pick<Upstreams, 'taurusDb' | 'eventBridge' | 'dynamoDb'>;
      iterations: number;
      versionRead: boolean;
      idempotencyTable?: string | undefined;
      putEventsWith: 'undici' | 'sdk';
    };

export interface CpuFigures {
  invocations: number;
  /** process.cpuUsage() (user + system, every thread: GC helpers included) per invocation. */
  cpuMs: number;
  /** Bytes allocated on the JS heap per invocation: what the collections freed plus the heap's growth. */
  allocatedBytes: number;
  failures: number;
}

export const FIGURES_MARKER = '\n@@cpu ';

/** Runs `job` in a fresh Node process (bench/cpu-child.ts) and returns what it measured. */
export async function warmCpu(job: CpuJob): Promise<CpuFigures> {
  const jobFile = join(await mkdtemp(join(tmpdir(), 'tpu-cpu-')), 'job.json');
  await writeFile(jobFile, JSON.stringify(job));
  const { stdout } = await run(
    process.execPath,
    [new URL('./cpu-child.ts', import.meta.url).pathname, jobFile],
    { env: { PATH: process.env.PATH ?? '' }, timeout: 600_000, maxBuffer: 256 * 1024 * 1024 },
  );
  const marker = stdout.lastIndexOf(FIGURES_MARKER);
  if (marker < 0) throw new Error(`CPU run printed no figures: ${stdout.slice(-500)}`);
  const figures = JSON.parse(stdout.slice(marker + FIGURES_MARKER.length)) as CpuFigures;
  if (figures.failures > 0) throw new Error(`CPU run (${job.kind}): ${figures.failures} invocations failed`);
  return figures;
}
