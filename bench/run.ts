/**
 * `npm run bench`: the four figures of issue 8, measured on the deployed bundle (the real
 * `serverless package` output, imported in-process) against the test suite's stand-ins, printed as a
 * table with the goals beside them and written into docs/performance.md.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BuildOptions } from 'esbuild';
import { rolloutDefinition } from '../sandbox/local-rollouts.ts';
import { definitionFromTemplate } from '../test/support/local-state-machine.ts';
import { packageService, projectRoot } from '../test/support/serverless-package.ts';
import {
  type BuiltFiles,
  bundle,
  type ColdStart,
  coldStart,
  esbuildOptionsFrom,
  readServerlessState,
  sameFiles,
  type Variant,
  writeVariant,
} from './cold-start.ts';
import { type CpuFigures, type CpuJob, warmCpu } from './cpu.ts';
import { measureFleet } from './fleet-run.ts';
import {
  type ColdStartFigures,
  type Figures,
  renderFleetMarkdown,
  renderFleetTable,
  renderMarkdown,
  renderTable,
} from './report.ts';
import { median, percentile, sum } from './stats.ts';
import { type Latencies, startUpstreams, type UpstreamCounts, type Upstreams } from './upstreams.ts';
import {
  answerProblem,
  countsDelta,
  type Handler,
  handlerEnvironment,
  type InvocationRun,
  importHandler,
  runBareLoop,
  runBatch,
  runInvocations,
  SAMPLE_REQUEST,
  signedHttpEvent,
} from './warm.ts';

const settings = {
  invocations: Number(process.env.BENCH_INVOCATIONS ?? 1000),
  /** Deliberately short, so the function's own time is not lost in them; DynamoDB's covers dynalite's. */
  latency: { taurusDb: 5, eventBridge: 3, dynamoDb: 5 } satisfies Latencies,
  batch: { targets: 50, concurrency: 10, latencyMs: 100, runs: 3 },
  /** Fresh processes per variant for the cold start, the variants taking turns. */
  coldRounds: Number(process.env.BENCH_COLD_ROUNDS ?? 15),
  /** Warm invocations per CPU run, and runs per variant (taking turns; the median is reported). */
  cpu: { invocations: Number(process.env.BENCH_CPU_INVOCATIONS ?? 500), rounds: 3 },
  /**
   * `BENCH_ONLY=cold` (or `cpu`, or `cold,cpu`) runs only those parts, prints their figures and leaves
   * docs/performance.md alone: for iterating on the cold start or the warm CPU (docs/performance.md).
   */
  only: process.env.BENCH_ONLY?.split(',').map((part) => part.trim()),
};

const BENCH_PARTS = ['cold', 'cpu'];
const unknownParts = settings.only?.filter((part) => !BENCH_PARTS.includes(part)) ?? [];
if (unknownParts.length > 0) {
  // A typo would otherwise package the service and then run nothing.
  throw new Error(`BENCH_ONLY: ${unknownParts.join(', ')} is not one of ${BENCH_PARTS.join(', ')}`);
}

const ENTRY = 'functions/upgrade.mjs';

const output = captureHandlerOutput();
const print = (line = '') => output.print(`${line}\n`);

/** `--fleet-only`: the simulated fleet alone (about a minute), its part of docs/performance.md only. */
const FLEET_ONLY = process.argv.includes('--fleet-only');

async function main() {
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: totalmem() / 1024 ** 3,
    node: process.version,
    os: `${platform()} ${release()}`,
    load: loadavg()[0] ?? 0,
  };
  print(`bench: ${machine.cpu} x${machine.cores}, ${machine.memoryGiB.toFixed(1)} GiB, Node ${machine.node}`);
  if (FLEET_ONLY) return fleetOnly(machine);

  print('packaging with `serverless package` ...');
  const service = await packageService('bench');
  const packaged: BuiltFiles = new Map(
    (await service.artifact('upgrade')).map((file) => [file.name, file.read()]),
  );
  const work = await mkdtemp(join(tmpdir(), 'tpu-bench-'));
  // One unpacked copy per container: each import of its entry is a new module graph, chunks included.
  const unpacked = async (name: string) => (await writeVariant(join(work, name), name, packaged, ENTRY)).file;
  const zipBytes = (await readFile(join(service.directory, 'upgrade.zip'))).length;

  const upstreams = await startUpstreams(settings.latency);
  const snapshots: UpstreamCounts[] = [];
  const snapshot = async () => {
    const counts = await upstreams.counts();
    snapshots.push(counts);
    return counts;
  };

  /** A container's first invocation, then `invocations` warm ones; counts around each part. */
  async function warmRun(handler: Handler) {
    const events = Array.from({ length: settings.invocations + 1 }, () =>
      signedHttpEvent(upstreams.webhookKey, SAMPLE_REQUEST),
    );
    const start = await snapshot();
    const first = await runInvocations(handler, events.slice(0, 1), upstreams);
    const afterFirst = await snapshot();
    const warm = await runInvocations(handler, events.slice(1), upstreams);
    const end = await snapshot();
    const failures = [...first.failures, ...warm.failures];
    if (failures.length > 0) throw new Error(`${failures.length} invocations failed, first: ${failures[0]}`);
    return { warm, perWarm: countsDelta(end, afterFirst), total: countsDelta(end, start) };
  }

  async function batchRuns(handler: Handler) {
    upstreams.setLatency({ taurusDb: settings.batch.latencyMs });
    const runs = [];
    for (let index = 0; index < settings.batch.runs; index += 1) {
      const before = await snapshot();
      const run = await runBatch(handler, upstreams.webhookKey, settings.batch.targets);
      if (run.problem) throw new Error(`batch failed: ${run.problem}`);
      runs.push({ wallMs: run.wallMs, counts: countsDelta(await snapshot(), before) });
    }
    upstreams.setLatency(settings.latency);
    return runs;
  }

  const summary = (run: InvocationRun) => ({
    medianMs: median(run.overheadMs),
    p99Ms: percentile(run.overheadMs, 99),
    totalMs: sum(run.elapsedMs),
    segments: Object.entries(run.segments).map(([label, values]) => ({ label, medianMs: median(values) })),
    quartersMs: [0, 1, 2, 3].map((quarter) => {
      const size = Math.ceil(run.overheadMs.length / 4);
      return median(run.overheadMs.slice(quarter * size, (quarter + 1) * size));
    }),
  });

  if (settings.only) {
    await onlyParts(upstreams, service.directory, packaged, await unpacked('cpu'), work);
    return;
  }

  print(`warm invocations, duplicate suppression off (${settings.invocations}) ...`);
  const offHandler = await importHandler(
    await unpacked('off'),
    handlerEnvironment(upstreams, { idempotency: false, concurrency: settings.batch.concurrency }),
    'off',
  );
  const off = await warmRun(offHandler);
  const versionRead = off.perWarm.taurusDb.versionReads >= settings.invocations / 2;
  print('bare loop ...');
  const bare = await runBareLoop(upstreams, { iterations: settings.invocations, versionRead });

  print(`warm invocations, duplicate suppression on (${settings.invocations}) ...`);
  const onHandler = await importHandler(
    await unpacked('on'),
    handlerEnvironment(upstreams, { idempotency: true, concurrency: settings.batch.concurrency }),
    'on',
  );
  const on = await warmRun(onHandler);
  print('bare loop with the two DynamoDB writes ...');
  const bareWithTable = await runBareLoop(upstreams, {
    iterations: settings.invocations,
    versionRead,
    idempotencyTable: upstreams.tableName,
  });

  print(`batch of ${settings.batch.targets} at ${settings.batch.latencyMs} ms ...`);
  const batchOff = await batchRuns(offHandler);
  const batchOn = await batchRuns(onHandler);
  const late = await upstreams.counts();

  print(
    `CPU per warm invocation: ${settings.cpu.rounds} x ${settings.cpu.invocations} invocations per variant ...`,
  );
  const cpu = await cpuRuns(upstreams, await unpacked('cpu'), versionRead);

  print(`cold start: import + first invocation, ${settings.coldRounds} fresh processes per variant ...`);
  const state = await readServerlessState(service.directory);
  const options = await esbuildOptionsFrom(state.esbuild);
  const sameWay = sameFiles(await bundle('functions/upgrade.ts', options), packaged);
  const cold = await coldStarts(upstreams, await coldVariants(work, packaged, options));
  await upstreams.close();
  const fleet = await measureFleet(definitionFromTemplate(service.template, 'RolloutStateMachine'), print);
  output.restore();

  const figures: Figures = {
    machine,
    settings,
    roundTrips: {
      off: { perWarm: off.perWarm, total: off.total },
      on: { perWarm: on.perWarm, total: on.total },
    },
    invocations: settings.invocations,
    overhead: {
      off: summary(off.warm),
      on: summary(on.warm),
      bare: summary(bare),
      bareWithTable: summary(bareWithTable),
    },
    versionRead,
    batch: { off: batchOff, on: batchOn },
    lateAnswers: {
      taurusDb: late.taurusDb.late,
      eventBridge: late.eventBridge.late,
      dynamoDb: late.dynamoDb.late,
    },
    cpu,
    coldStart: { sameWay, zipBytes, function: cold.function, floor: cold.floor },
    fleet,
  };

  print();
  print(renderTable(figures));
  const docPath = join(projectRoot, 'docs/performance.md');
  await writeFile(docPath, renderMarkdown(figures, await readFile(docPath, 'utf8').catch(() => undefined)));
  print(`written to docs/performance.md (raw figures in ${join(work, 'figures.json')})`);
  await writeFile(join(work, 'figures.json'), JSON.stringify({ figures, snapshots }, null, 2));
}

main().then(
  // Handler instances keep their keep-alive pools open, as a container would.
  () => process.exit(0),
  (error: unknown) => {
    output.restore();
    console.error(error);
    console.error(`last handler output:\n${output.kept()}`);
    process.exit(1);
  },
);

/** The packaged function and the floor, bundled the same way, each in a folder of its own. */
async function coldVariants(work: string, packaged: BuiltFiles, options: BuildOptions) {
  return {
    function: await writeVariant(join(work, 'cold'), 'function', packaged, ENTRY),
    floor: await writeVariant(
      join(work, 'floor'),
      'floor',
      await bundle('bench/floor.ts', options),
      'bench/floor.mjs',
    ),
  };
}

/** `BENCH_ONLY`: the cold start and/or the warm CPU alone, printed, not written into the docs. */
async function onlyParts(
  upstreams: Upstreams,
  directory: string,
  packaged: BuiltFiles,
  cpuBundle: string,
  work: string,
) {
  if (settings.only?.includes('cpu')) {
    print(`CPU per warm invocation: ${settings.cpu.rounds} x ${settings.cpu.invocations} invocations ...`);
    const cpu = await cpuRuns(upstreams, cpuBundle, true);
    for (const [name, run] of Object.entries(cpu)) {
      print(
        `  ${name}: ${run.cpuMs.toFixed(2)} ms CPU, ${(run.allocatedBytes / 1024).toFixed(0)} KB allocated`,
      );
    }
    print(
      `  off / bare ${(cpu.off.cpuMs / cpu.bare.cpuMs).toFixed(2)}x, on / bare with table ${(cpu.on.cpuMs / cpu.bareWithTable.cpuMs).toFixed(2)}x`,
    );
  }
  if (settings.only?.includes('cold')) {
    print(`cold start: ${settings.coldRounds} fresh processes per variant ...`);
    const options = await esbuildOptionsFrom((await readServerlessState(directory)).esbuild);
    const cold = await coldStarts(upstreams, await coldVariants(work, packaged, options));
    const line = (v: ColdStartFigures) =>
      `import ${v.importMs.toFixed(1)} first ${v.firstMs.toFixed(1)} total ${v.totalMs.toFixed(1)} cpu ${v.cpuMs.toFixed(1)} ms, loaded ${v.loadedBytes} B`;
    print(`  function: ${line(cold.function)}\n  floor:    ${line(cold.floor)}`);
    const ratio = (key: keyof ColdStartFigures) => (cold.function[key] / cold.floor[key]).toFixed(3);
    print(
      `  function / floor: total ${ratio('totalMs')}x, cpu ${ratio('cpuMs')}x, loaded ${ratio('loadedBytes')}x`,
    );
  }
  await upstreams.close();
}

/** The simulated fleet alone, on the definition as serverless.yml writes it (no packaging). */
async function fleetOnly(machine: Figures['machine']) {
  const fleet = await measureFleet(await rolloutDefinition('eu-west-1'), print);
  output.restore();
  print();
  print(renderFleetTable(fleet));
  const docPath = join(projectRoot, 'docs/performance.md');
  await writeFile(
    docPath,
    renderFleetMarkdown(fleet, machine, await readFile(docPath, 'utf8').catch(() => undefined)),
  );
  print('fleet figures written to docs/performance.md');
}

/** The function's and the bare loop's CPU runs, taking turns; the median run of each. */
async function cpuRuns(upstreams: Upstreams, bundleFile: string, versionRead: boolean) {
  const { invocations, rounds } = settings.cpu;
  const functionJob = (idempotency: boolean): CpuJob => ({
    kind: 'function',
    bundleFile,
    environment: handlerEnvironment(upstreams, { idempotency, concurrency: settings.batch.concurrency }),
    events: Array.from({ length: invocations + 1 }, () =>
      signedHttpEvent(upstreams.webhookKey, SAMPLE_REQUEST),
    ),
  });
  const bareJob = (
    idempotencyTable: string | undefined,
    putEventsWith: 'undici' | 'sdk' = 'sdk',
  ): CpuJob => ({
    kind: 'bare',
    upstreams: {
      taurusDb: upstreams.taurusDb,
      eventBridge: upstreams.eventBridge,
      dynamoDb: upstreams.dynamoDb,
    },
    iterations: invocations,
    versionRead,
    idempotencyTable,
    putEventsWith,
  });
  const jobs = {
    off: () => functionJob(false),
    bare: () => bareJob(undefined),
    bareUndici: () => bareJob(undefined, 'undici'),
    on: () => functionJob(true),
    bareWithTable: () => bareJob(upstreams.tableName),
  };
  const runs: Record<keyof typeof jobs, CpuFigures[]> = {
    off: [],
    bare: [],
    bareUndici: [],
    on: [],
    bareWithTable: [],
  };
  for (let round = 0; round < rounds; round += 1) {
    for (const [name, job] of Object.entries(jobs) as Array<[keyof typeof jobs, () => CpuJob]>) {
      runs[name].push(await warmCpu(job()));
    }
  }
  const middle = (list: CpuFigures[]) => ({
    invocations: list[0]?.invocations ?? 0,
    cpuMs: median(list.map((run) => run.cpuMs)),
    allocatedBytes: median(list.map((run) => run.allocatedBytes)),
    failures: 0,
  });
  return {
    off: middle(runs.off),
    on: middle(runs.on),
    bare: middle(runs.bare),
    bareUndici: middle(runs.bareUndici),
    bareWithTable: middle(runs.bareWithTable),
  };
}

/**
 * Cold starts of each variant in fresh processes, taking turns, with no injected latency (it would only
 * dilute the ratio); then one more each with the module hook that counts the bytes loaded.
 */
async function coldStarts(upstreams: Upstreams, variants: Record<'function' | 'floor', Variant>) {
  upstreams.setLatency({ taurusDb: 0, eventBridge: 0, dynamoDb: 0 });
  const environment = {
    ...handlerEnvironment(upstreams, { idempotency: true, concurrency: settings.batch.concurrency }),
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
  };
  const once = async (variant: Variant, countBytes = false) => {
    const event = signedHttpEvent(upstreams.webhookKey, SAMPLE_REQUEST);
    const start = await coldStart(
      variant.file,
      environment,
      event,
      (answer) => answerProblem(answer, 1),
      countBytes,
    );
    if (start.problem) throw new Error(`cold start of the ${variant.name}: ${start.problem}`);
    return start;
  };
  const runs = { function: [] as ColdStart[], floor: [] as ColdStart[] };
  for (let round = 0; round < settings.coldRounds; round += 1) {
    runs.function.push(await once(variants.function));
    runs.floor.push(await once(variants.floor));
  }
  const figures = async (name: 'function' | 'floor'): Promise<ColdStartFigures> => ({
    bytes: variants[name].bytes,
    deflatedBytes: variants[name].deflatedBytes,
    loadedBytes: (await once(variants[name], true)).loadedBytes,
    importMs: median(runs[name].map((run) => run.importMs)),
    firstMs: median(runs[name].map((run) => run.firstMs)),
    totalMs: median(runs[name].map((run) => run.totalMs)),
    cpuMs: median(runs[name].map((run) => run.cpuMs)),
  });
  return { function: await figures('function'), floor: await figures('floor') };
}

/**
 * The handler logs a JSON line and an EMF blob per invocation to stdout, as on Lambda; they are
 * written to a sink instead of the terminal (the formatting work still happens) and the bench prints
 * through the saved writers. The last lines are kept for the error message should anything fail.
 */
function captureHandlerOutput() {
  const originals = { stdout: process.stdout.write, stderr: process.stderr.write };
  const kept: string[] = [];
  let bytes = 0;
  const sink = ((chunk: string | Uint8Array) => {
    bytes += chunk.length;
    kept.push(String(chunk));
    if (kept.length > 20) kept.shift();
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = sink;
  process.stderr.write = sink;
  const restore = () => {
    process.stdout.write = originals.stdout;
    process.stderr.write = originals.stderr;
  };
  return {
    print: (text: string) => originals.stdout.call(process.stdout, text),
    bytes: () => bytes,
    kept: () => kept.join(''),
    restore,
  };
}
