/**
 * CPU time and allocation per warm invocation, measured in a process of its own (bench/warm.ts
 * `warmCpu` in bench/cpu.ts starts it): the bench process also runs the latency proxies, whose work process.cpuUsage()
 * would count. Here only the handler, or the bare loop, runs; the upstreams are the bench's.
 * Job in argv[2] (a JSON file), figures printed as one JSON line on stdout after a marker.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { lambdaContext } from '../test/support/lambda-context.ts';
import { type CpuFigures, type CpuJob, FIGURES_MARKER } from './cpu.ts';
import type { Upstreams } from './upstreams.ts';
import { answerProblem, type Handler, runBareLoop } from './warm.ts';

/** Runs `work` and measures it. */
async function measured(invocations: number, work: () => Promise<number>): Promise<CpuFigures> {
  const profiler = new GCProfiler();
  const usedBefore = getHeapStatistics().used_heap_size;
  profiler.start();
  const cpu = process.cpuUsage();
  const failures = await work();
  const used = process.cpuUsage(cpu);
  const usedAfter = getHeapStatistics().used_heap_size;
  const collections = profiler.stop()?.statistics ?? [];
  const freed = collections.reduce(
    (total, gc) => total + gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize,
    0,
  );
  return {
    invocations,
    cpuMs: (used.user + used.system) / 1000 / invocations,
    allocatedBytes: (freed + usedAfter - usedBefore) / invocations,
    failures,
  };
}

async function runFunction(job: Extract<CpuJob, { kind: 'function' }>): Promise<CpuFigures> {
  Object.assign(process.env, job.environment);
  const { handler } = (await import(pathToFileURL(job.bundleFile).href)) as { handler: Handler };
  const [first, ...warm] = job.events;
  await handler(first, lambdaContext());
  return measured(warm.length, async () => {
    let failures = 0;
    for (const event of warm) {
      if (answerProblem(await handler(event, lambdaContext()), 1) !== undefined) failures += 1;
    }
    return failures;
  });
}

async function runBare(job: Extract<CpuJob, { kind: 'bare' }>): Promise<CpuFigures> {
  // The bare loop's timeline hooks are the bench process's; nothing is timed here.
  const upstreams = { ...job.upstreams, tally: () => ({ requests: 0, injectedMs: 0 }), timeline: () => [] };
  const options = {
    versionRead: job.versionRead,
    idempotencyTable: job.idempotencyTable,
    putEventsWith: job.putEventsWith,
  };
  // A few iterations first, as the function's first invocation: modules loaded, connections open.
  await runBareLoop(upstreams as unknown as Upstreams, { ...options, iterations: 5, keyPrefix: 'warm-up' });
  return measured(job.iterations, async () => {
    const run = await runBareLoop(upstreams as unknown as Upstreams, {
      ...options,
      iterations: job.iterations,
    });
    return run.failures.length;
  });
}

const job = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as CpuJob;
const figures = job.kind === 'function' ? await runFunction(job) : await runBare(job);
process.stdout.write(`${FIGURES_MARKER}${JSON.stringify(figures)}\n`);
process.exit(0);
