/**
 * `npm run bench`: the four figures of issue 8, measured on the deployed bundle (the real
 * `serverless package` output, imported in-process) against the test suite's stand-ins, printed as a
 * table with the goals beside them and written into docs/performance.md.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { packageService, projectRoot } from '../test/support/serverless-package.ts';
import {
  bundle,
  deployedEnvironment,
  esbuildOptionsFrom,
  importTimes,
  namedZodImports,
  readServerlessState,
  runtimeSdkDirectory,
  type Variant,
  writeVariant,
  zodNamespacePlugin,
} from './cold-start.ts';
import { type Figures, renderMarkdown, renderTable } from './report.ts';
import { median, percentile, sum } from './stats.ts';
import { type Latencies, startUpstreams, type UpstreamCounts } from './upstreams.ts';
import {
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
  importRounds: Number(process.env.BENCH_IMPORT_ROUNDS ?? 15),
};

const output = captureHandlerOutput();
const print = (line = '') => output.print(`${line}\n`);

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

  print('packaging with `serverless package` ...');
  const service = await packageService('bench');
  const [entry, ...others] = await service.artifact('upgrade');
  if (entry === undefined || others.length > 0) throw new Error('expected one file in upgrade.zip');
  const work = await mkdtemp(join(tmpdir(), 'tpu-bench-'));
  const bundleFile = join(work, 'upgrade.mjs');
  await writeFile(bundleFile, entry.read());
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

  print(`warm invocations, duplicate suppression off (${settings.invocations}) ...`);
  const offHandler = await importHandler(
    bundleFile,
    handlerEnvironment(upstreams, { idempotency: false, concurrency: settings.batch.concurrency }),
    'off',
  );
  const off = await warmRun(offHandler);
  const versionRead = off.perWarm.taurusDb.versionReads >= settings.invocations / 2;
  print('bare loop ...');
  const bare = await runBareLoop(upstreams, { iterations: settings.invocations, versionRead });

  print(`warm invocations, duplicate suppression on (${settings.invocations}) ...`);
  const onHandler = await importHandler(
    bundleFile,
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
  await upstreams.close();

  print(`cold start: bundling the floor, importing each variant ${settings.importRounds} times ...`);
  const state = await readServerlessState(service.directory);
  const bundled = esbuildOptionsFrom(state.esbuild);
  // The SDK as the Lambda runtime provides it: @aws-sdk/* and the @smithy/* packages they are built on.
  const runtimeSdk = esbuildOptionsFrom(state.esbuild, ['@aws-sdk/*', '@smithy/*']);
  const rebuilt = await bundle('functions/upgrade.ts', bundled);
  const sameWay = rebuilt.code.equals(entry.read());
  const runtimeDirectory = await runtimeSdkDirectory(join(work, 'runtime-sdk'));
  const variants: Record<string, Variant> = {
    real: await writeVariant(work, 'function', entry.read()),
    floor: await writeVariant(work, 'floor', (await bundle('bench/floor.ts', bundled)).code),
    realRuntimeSdk: await writeVariant(
      runtimeDirectory,
      'function',
      (await bundle('functions/upgrade.ts', runtimeSdk)).code,
    ),
    floorRuntimeSdk: await writeVariant(
      runtimeDirectory,
      'floor',
      (await bundle('bench/floor.ts', runtimeSdk)).code,
    ),
  };
  // What the change proposed in docs/performance.md would give, while the sources still need it.
  const zodFiles = await namedZodImports(rebuilt.ownSources);
  const whatIf =
    zodFiles.length > 0
      ? await writeVariant(
          work,
          'function-zod-namespace',
          (await bundle('functions/upgrade.ts', { ...bundled, plugins: [zodNamespacePlugin] })).code,
        )
      : undefined;
  const times = await importTimes(
    [...Object.values(variants), ...(whatIf ? [whatIf] : [])],
    deployedEnvironment(state.environment),
    settings.importRounds,
  );
  output.restore();

  const importMs = (variant: Variant) => median(times.get(variant) ?? []);
  const variantFigures = (variant: Variant) => ({
    bytes: variant.bytes,
    deflatedBytes: variant.deflatedBytes,
    importMs: importMs(variant),
  });
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
    coldStart: {
      sameWay,
      zipBytes,
      variants: Object.fromEntries(
        Object.entries(variants).map(([name, variant]) => [name, variantFigures(variant)]),
      ) as Figures['coldStart']['variants'],
      ...(whatIf ? { zodNamespace: { ...variantFigures(whatIf), files: zodFiles } } : {}),
    },
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
