import type { CpuFigures } from './cpu.ts';
import { type FleetFigures, fleetSections } from './fleet-report.ts';
import type { Latencies, UpstreamCounts } from './upstreams.ts';

interface OverheadSummary {
  medianMs: number;
  p99Ms: number;
  /** Sum of the invocations' wall times: throughput is its inverse. */
  totalMs: number;
  /** Median time before the first call, between an answer and the next call, and after the last answer. */
  segments: Array<{ label: string; medianMs: number }>;
  /** Medians of the first, second, third and last quarter of the invocations: warm-up and drift. */
  quartersMs: number[];
}

interface BatchRunFigures {
  wallMs: number;
  counts: UpstreamCounts;
}

/** Medians over the fresh processes of one variant; the sizes are its files'. */
export interface ColdStartFigures {
  /** Every file of the variant, and deflated as the zip stores them. */
  bytes: number;
  deflatedBytes: number;
  /** The files Node had loaded by the first answer. */
  loadedBytes: number;
  importMs: number;
  firstMs: number;
  totalMs: number;
  cpuMs: number;
}

export interface Figures {
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; os: string; load: number };
  settings: {
    invocations: number;
    latency: Latencies;
    batch: { targets: number; concurrency: number; latencyMs: number; runs: number };
    coldRounds: number;
    cpu: { invocations: number; rounds: number };
  };
  invocations: number;
  roundTrips: Record<'off' | 'on', { perWarm: UpstreamCounts; total: UpstreamCounts }>;
  overhead: Record<'off' | 'on' | 'bare' | 'bareWithTable', OverheadSummary>;
  /** Whether the handler read the proxy version before upgrading (version-aware upgrades). */
  versionRead: boolean;
  batch: Record<'off' | 'on', BatchRunFigures[]>;
  lateAnswers: Latencies;
  /** Per warm invocation, each measured in a process of its own (bench/cpu-child.ts). */
  cpu: Record<'off' | 'on' | 'bare' | 'bareUndici' | 'bareWithTable', CpuFigures>;
  coldStart: {
    /** The floor's options rebuild the packaged function byte for byte. */
    sameWay: boolean;
    zipBytes: number;
    function: ColdStartFigures;
    floor: ColdStartFigures;
  };
  /** The simulated fleet (bench/fleet.ts); undefined when this run left it out. */
  fleet?: FleetFigures;
}

export const goals = {
  overheadMedianMs: 1,
  overheadP99Ms: 5,
  throughputRatio: 0.8,
  batchFactor: 1.3,
  /** Cold start (import + first invocation) and bytes loaded by the first answer, over the floor's. */
  coldStartFactor: 1,
  /** CPU per warm invocation over the bare loop's making the same calls. */
  cpuFactor: 1.3,
  /**
   * What duplicate suppression needs per single-target delivery: the delivery record (PutItem), then
   * per step Powertools' in-progress record (PutItem), the sending record (PutItem) and the result
   * (UpdateItem).
   */
  dynamoCallsPerTarget: 4,
};

type Row = string[];
interface Section {
  title: string;
  header: Row;
  rows: Row[];
  notes: string[];
}

const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 0)} ms`;
const times = (value: number) => `${value.toFixed(2)}x`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
const per = (count: number, invocations: number) => (count / invocations).toFixed(3).replace(/\.?0+$/, '');
const mark = (ok: boolean) => (ok ? 'met' : 'NOT MET');

function roundTripSection(f: Figures): Section {
  const n = f.invocations;
  const { off, on } = f.roundTrips;
  const dynamoOps = (counts: UpstreamCounts) =>
    Object.entries(counts.dynamoDb.operations)
      .map(([operation, count]) => `${operation} ${per(count, n)}`)
      .join(' + ') || 'none';
  const newConnections = (counts: UpstreamCounts) =>
    counts.taurusDb.connections +
    counts.eventBridge.connections +
    counts.dynamoDb.connections +
    counts.secretsManager.connections +
    counts.iam.connections;
  const versionGoal = f.versionRead ? 1 : 0;
  const rows: Row[] = [
    [
      'TaurusDB upgrade POSTs',
      per(off.perWarm.taurusDb.upgrades, n),
      per(on.perWarm.taurusDb.upgrades, n),
      'exactly 1',
      mark(off.perWarm.taurusDb.upgrades === n && on.perWarm.taurusDb.upgrades === n),
    ],
    [
      'TaurusDB version GETs',
      per(off.perWarm.taurusDb.versionReads, n),
      per(on.perWarm.taurusDb.versionReads, n),
      '1 per target once version-aware, else 0',
      mark(
        off.perWarm.taurusDb.versionReads === versionGoal * n &&
          on.perWarm.taurusDb.versionReads === versionGoal * n,
      ),
    ],
    [
      'other TaurusDB requests',
      per(off.perWarm.taurusDb.otherRequests, n),
      per(on.perWarm.taurusDb.otherRequests, n),
      '0',
      mark(off.perWarm.taurusDb.otherRequests === 0 && on.perWarm.taurusDb.otherRequests === 0),
    ],
    [
      'PutEvents calls',
      per(off.perWarm.eventBridge.calls, n),
      per(on.perWarm.eventBridge.calls, n),
      'exactly 1',
      mark(off.perWarm.eventBridge.calls === n && on.perWarm.eventBridge.calls === n),
    ],
    [
      'DynamoDB calls',
      `${per(off.perWarm.dynamoDb.calls, n)} (${dynamoOps(off.perWarm)})`,
      `${per(on.perWarm.dynamoDb.calls, n)} (${dynamoOps(on.perWarm)})`,
      `off 0, on ${goals.dynamoCallsPerTarget} (3 PutItem + UpdateItem)`,
      mark(off.perWarm.dynamoDb.calls === 0 && on.perWarm.dynamoDb.calls === goals.dynamoCallsPerTarget * n),
    ],
    [
      'Secrets Manager calls in all (credentials / webhook key)',
      `${off.total.secretsManager.credentialsReads} / ${off.total.secretsManager.webhookKeyReads}`,
      `${on.total.secretsManager.credentialsReads} / ${on.total.secretsManager.webhookKeyReads}`,
      'at most 1 per secret per cache lifetime',
      mark(
        [off, on].every(
          ({ total }) =>
            total.secretsManager.credentialsReads <= 1 && total.secretsManager.webhookKeyReads <= 1,
        ),
      ),
    ],
    [
      'IAM calls in all (password form)',
      String(off.total.iam.tokenRequests),
      String(on.total.iam.tokenRequests),
      'at most 1 per cache lifetime',
      mark(off.total.iam.tokenRequests <= 1 && on.total.iam.tokenRequests <= 1),
    ],
    [
      'new TCP connections during warm invocations (all stand-ins)',
      String(newConnections(off.perWarm)),
      String(newConnections(on.perWarm)),
      '0',
      mark(newConnections(off.perWarm) === 0 && newConnections(on.perWarm) === 0),
    ],
    [
      'TCP connections in all: TaurusDB / EventBridge / DynamoDB / Secrets Manager / IAM',
      connectionList(off.total),
      connectionList(on.total),
      `TaurusDB at most the pool size (${f.settings.batch.concurrency})`,
      mark(
        off.total.taurusDb.connections <= f.settings.batch.concurrency &&
          on.total.taurusDb.connections <= f.settings.batch.concurrency,
      ),
    ],
  ];
  return {
    title: `1. Round trips per warm invocation (${n} single-target HTTP invocations after each container's first)`,
    header: ['', 'suppression off', 'suppression on', 'goal', ''],
    rows,
    notes: [
      "DynamoDB: the delivery's request hash (conditional PutItem), Powertools' in-progress record (conditional PutItem), the durable sending record right before the POST (conditional PutItem) and the result (UpdateItem); no read: a duplicate comes back with a failed conditional write.",
      '"in all" counts include the container\'s first invocation; each mode is a new container (its own caches and pools).',
    ],
  };
}

function connectionList(counts: UpstreamCounts): string {
  return [
    counts.taurusDb.connections,
    counts.eventBridge.connections,
    counts.dynamoDb.connections,
    counts.secretsManager.connections,
    counts.iam.connections,
  ].join(' / ');
}

function overheadSection(f: Figures): Section {
  const { off, on, bare, bareWithTable } = f.overhead;
  const ratio = (run: OverheadSummary, floor: OverheadSummary) => floor.totalMs / run.totalMs;
  const row = (label: string, run: OverheadSummary, floor: OverheadSummary | undefined): Row => [
    label,
    ms(run.medianMs),
    ms(run.p99Ms),
    run.quartersMs.map((value) => value.toFixed(2)).join(' / '),
    floor ? times(ratio(run, floor)) : '',
    floor
      ? mark(
          run.medianMs < goals.overheadMedianMs &&
            run.p99Ms < goals.overheadP99Ms &&
            ratio(run, floor) >= goals.throughputRatio,
        )
      : '',
  ];
  const calls = f.versionRead ? 'three HTTP calls (version GET, upgrade POST, PutEvents)' : 'two HTTP calls';
  return {
    title: `2. Overhead: invocation time minus injected latency (TaurusDB ${f.settings.latency.taurusDb} ms, EventBridge ${f.settings.latency.eventBridge} ms, DynamoDB ${f.settings.latency.dynamoDb} ms per call)`,
    header: [
      '',
      'median',
      'p99',
      'median by quarter (ms)',
      'throughput vs bare loop',
      `goal: < ${goals.overheadMedianMs} ms, < ${goals.overheadP99Ms} ms, >= ${goals.throughputRatio}`,
    ],
    rows: [
      row('function, suppression off', off, bare),
      row('function, suppression on', on, bareWithTable),
      row(`bare loop: the same ${calls} with undici`, bare, undefined),
      row(
        'bare loop + the same three PutItem and the UpdateItem with the SDK DynamoDB client',
        bareWithTable,
        undefined,
      ),
    ],
    notes: [
      `Throughput: the bare loop's total time over the function's, for the same number of back-to-back invocations; with suppression on against the bare loop that makes the same DynamoDB writes (against the loop without them it is ${times(ratio(on, bare))}, the DynamoDB latency being no overhead of the function).`,
      `Answers later than their injected latency (not hidden in it): TaurusDB ${f.lateAnswers.taurusDb}, EventBridge ${f.lateAnswers.eventBridge}, DynamoDB ${f.lateAnswers.dynamoDb}.`,
    ],
  };
}

function segmentSection(f: Figures): Section {
  const rows: Row[] = [];
  for (const [mode, floor] of [
    ['off', 'bare'],
    ['on', 'bareWithTable'],
  ] as const) {
    const floorSegments = new Map(
      f.overhead[floor].segments.map((segment) => [segment.label, segment.medianMs]),
    );
    for (const segment of f.overhead[mode].segments) {
      const bare = floorSegments.get(segment.label);
      rows.push([
        `suppression ${mode}: ${segment.label}`,
        ms(segment.medianMs),
        bare === undefined ? '' : ms(bare),
      ]);
    }
  }
  return {
    title:
      '2b. Where the overhead goes: median time outside the upstreams, between the calls of an invocation',
    header: ['', 'function', 'bare loop'],
    rows,
    notes: [
      '"A → B": from the moment A\'s answer left the latency proxy to the moment B\'s request reached one (start/end: the handler called/returned). Medians of each gap; they need not add up to the median overhead.',
    ],
  };
}

function batchSection(f: Figures): Section {
  const { targets, concurrency, latencyMs } = f.settings.batch;
  const waves = Math.ceil(targets / concurrency);
  const row = (label: string, runs: BatchRunFigures[]): Row => {
    const walls = runs.map((run) => run.wallMs).sort((a, b) => a - b);
    const wall = walls[Math.floor(walls.length / 2)] ?? Number.NaN;
    const last = runs.at(-1)?.counts;
    const requestsPerTarget = last ? (last.taurusDb.upgrades + last.taurusDb.versionReads) / targets : 1;
    const ideal = waves * requestsPerTarget * latencyMs;
    const putEventsOk = runs.every(
      (run) => run.counts.eventBridge.calls === Math.ceil(run.counts.eventBridge.entries / 10),
    );
    const connections = runs.reduce((total, run) => total + run.counts.taurusDb.connections, 0);
    return [
      label,
      `${ms(wall)} (${walls.map((value) => value.toFixed(0)).join(', ')})`,
      `${waves} x ${requestsPerTarget} x ${latencyMs} = ${ms(ideal)}`,
      times(wall / ideal),
      `${runs.map((run) => `${run.counts.eventBridge.calls}/${run.counts.eventBridge.entries}`).join(', ')}`,
      String(connections),
      mark(wall / ideal <= goals.batchFactor && putEventsOk),
    ];
  };
  return {
    title: `3. Batch: ${targets} targets, TaurusDB latency ${latencyMs} ms, concurrency ${concurrency} (median of ${f.settings.batch.runs} invocations)`,
    header: [
      '',
      'wall time (runs)',
      'ideal',
      `factor (goal <= ${goals.batchFactor}x)`,
      'PutEvents calls/events (goal ceil(events/10))',
      'TaurusDB connections opened',
      '',
    ],
    rows: [row('suppression off', f.batch.off), row('suppression on', f.batch.on)],
    notes: [
      'The ideal counts only the TaurusDB waits; the wall time also holds the PutEvents calls (sequential) and, with suppression on, two DynamoDB writes per target.',
    ],
  };
}

function cpuSection(f: Figures): Section {
  const { off, on, bare, bareUndici, bareWithTable } = f.cpu;
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
  const row = (label: string, run: CpuFigures, p99: number, floor?: CpuFigures, floorP99?: number): Row => [
    label,
    ms(run.cpuMs),
    kb(run.allocatedBytes),
    floorP99 === undefined ? ms(p99) : `${ms(p99)} (bare ${ms(floorP99)})`,
    floor ? times(run.cpuMs / floor.cpuMs) : '',
    floor ? mark(run.cpuMs / floor.cpuMs <= goals.cpuFactor) : '',
  ];
  const o = f.overhead;
  return {
    title: `2c. CPU per warm invocation (${f.settings.cpu.invocations} invocations per run, median of ${f.settings.cpu.rounds} runs, each in a process of its own)`,
    header: [
      '',
      'CPU',
      'allocated',
      'overhead p99 (table 2)',
      'CPU vs bare loop',
      `goal: <= ${goals.cpuFactor}x`,
    ],
    rows: [
      row('function, suppression off', off, o.off.p99Ms, bare, o.bare.p99Ms),
      row('function, suppression on', on, o.on.p99Ms, bareWithTable, o.bareWithTable.p99Ms),
      row("bare loop (PutEvents with the SDK's EventBridge client)", bare, o.bare.p99Ms),
      row('bare loop + the DynamoDB writes (SDK clients)', bareWithTable, o.bareWithTable.p99Ms),
      [
        "for reference: table 2's bare loop (PutEvents with undici)",
        ms(bareUndici.cpuMs),
        `${(bareUndici.allocatedBytes / 1024).toFixed(0)} KB`,
        ms(o.bare.p99Ms),
        `function off: ${times(off.cpuMs / bareUndici.cpuMs)}`,
        'not the goal',
      ],
    ],
    notes: [
      "CPU: process.cpuUsage() (user + system, all threads, GC helpers included) over the warm invocations, divided by their number; the process runs only the handler or the bare loop, the latency proxies and stand-ins run elsewhere. Allocated: bytes the collections freed plus the heap's growth (v8.GCProfiler), per invocation.",
      "The bare loop makes the function's calls with the function's clients: undici for TaurusDB, the SDK for DynamoDB and EventBridge, as the cold-start floor does (docs/performance.md, 2c). The p99 column is table 2's, whose bare loop sends PutEvents with undici.",
    ],
  };
}

function coldStartSection(f: Figures): Section {
  const { function: fn, floor } = f.coldStart;
  const row = (label: string, v: ColdStartFigures): Row => [
    label,
    ms(v.importMs),
    ms(v.firstMs),
    ms(v.totalMs),
    ms(v.cpuMs),
    mib(v.loadedBytes),
    `${mib(v.bytes)} (${mib(v.deflatedBytes)})`,
    '',
  ];
  const totalRatio = fn.totalMs / floor.totalMs;
  const bytesRatio = fn.loadedBytes / floor.loadedBytes;
  return {
    title: `4. Cold start: import + first invocation (signed webhook, one target, suppression on) in a fresh Node ${f.machine.node} process, median of ${f.settings.coldRounds}`,
    header: [
      '',
      'import',
      'first invocation',
      'cold start',
      'CPU',
      'loaded by the first answer',
      'all files (deflated)',
      `goal: cold start and loaded bytes <= ${goals.coldStartFactor}x the floor`,
    ],
    rows: [
      row('function (the packaged upgrade.zip)', fn),
      row('floor: the same calls with the same clients (bench/floor.ts)', floor),
      [
        'function / floor',
        times(fn.importMs / floor.importMs),
        times(fn.firstMs / floor.firstMs),
        times(totalRatio),
        times(fn.cpuMs / floor.cpuMs),
        times(bytesRatio),
        times(fn.bytes / floor.bytes),
        `cold start ${mark(totalRatio <= goals.coldStartFactor)}, bytes ${mark(bytesRatio <= goals.coldStartFactor)}`,
      ],
    ],
    notes: [
      `Deployed upgrade.zip: ${mib(f.coldStart.zipBytes)}. The floor is bundled with serverless.yml's custom.esbuild options and plugins${f.coldStart.sameWay ? ' (which rebuild the packaged function byte for byte)' : ' (WARNING: they did not rebuild the packaged function byte for byte)'}, so neither side has a build trick the other lacks.`,
      'No injected latency: each process reaches the stand-ins over loopback. "Loaded by the first answer": the bytes of the bundle files Node had loaded then (a separate run with a module hook counting them).',
      "Call order: the floor makes its calls one after the other; the function starts reading the credentials secret and the IAM exchange once the delivery's id is claimed, alongside the in-progress claim (docs/performance.md, 4).",
    ],
  };
}

function sections(f: Figures): Section[] {
  return [
    roundTripSection(f),
    overheadSection(f),
    segmentSection(f),
    cpuSection(f),
    batchSection(f),
    coldStartSection(f),
  ];
}

function machineLine(f: Pick<Figures, 'machine'>): string {
  const m = f.machine;
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB.toFixed(1)} GiB, ${m.os}, Node ${m.node} (load average ${m.load.toFixed(2)} at start)`;
}

/** Plain-text tables for the terminal. */
export function renderTable(f: Figures): string {
  return [`Machine: ${machineLine(f)}`, '', tablesOf([...sections(f), ...fleetSections(f.fleet)])].join('\n');
}

/** The fleet's tables alone (`npm run bench -- --fleet-only`). */
export function renderFleetTable(fleet: FleetFigures): string {
  return tablesOf(fleetSections(fleet));
}

function tablesOf(list: Section[]): string {
  const lines: string[] = [];
  for (const section of list) {
    const widths = section.header.map((_, column) =>
      Math.max(...[section.header, ...section.rows].map((row) => (row[column] ?? '').length)),
    );
    const format = (row: Row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd();
    lines.push(section.title, format(section.header), ...section.rows.map(format));
    for (const note of section.notes) lines.push(`  ${note}`);
    lines.push('');
  }
  return lines.join('\n');
}

const BEGIN = '<!-- bench:begin (written by `npm run bench`; edit outside these markers) -->';
const END = '<!-- bench:end -->';
/** The fleet's part inside the generated one: `--fleet-only` rewrites just this. */
const FLEET_BEGIN = '<!-- bench:fleet:begin (written by `npm run bench`, also alone by `--fleet-only`) -->';
const FLEET_END = '<!-- bench:fleet:end -->';

function markdownOf(list: Section[]): string[] {
  const cellText = (cell: string) => cell.replaceAll('|', '\\|');
  const parts: string[] = [];
  for (const section of list) {
    parts.push(`### ${section.title}`, '');
    parts.push(`| ${section.header.map(cellText).join(' | ')} |`);
    parts.push(`|${section.header.map(() => '---').join('|')}|`);
    for (const row of section.rows) parts.push(`| ${row.map(cellText).join(' | ')} |`);
    parts.push('');
    for (const note of section.notes) parts.push(`- ${note}`);
    parts.push('');
  }
  return parts;
}

/** `existing` with what lies between `begin` and `end` replaced by `generated` (markers included). */
function replaceBetween(existing: string | undefined, begin: string, end: string, generated: string) {
  if (!existing?.includes(begin) || !existing.includes(end)) return undefined;
  return (
    existing.slice(0, existing.indexOf(begin)) +
    generated +
    existing.slice(existing.indexOf(end) + end.length)
  );
}

const fleetMarkdown = (fleet: FleetFigures | undefined, machine: string) =>
  [
    FLEET_BEGIN,
    '',
    `Fleet measured on: ${machine}.`,
    '',
    ...markdownOf(fleetSections(fleet)),
    FLEET_END,
  ].join('\n');

/** The figures as Markdown, replacing the generated part of `existing` (or a new document). */
export function renderMarkdown(f: Figures, existing: string | undefined): string {
  const parts = [BEGIN, '', `Measured on: ${machineLine(f)}.`, '', ...markdownOf(sections(f))];
  parts.push(fleetMarkdown(f.fleet, machineLine(f)), '', END);
  const generated = parts.join('\n');
  return replaceBetween(existing, BEGIN, END, generated) ?? `# Performance\n\n${generated}\n`;
}

/** Only the fleet's part of `existing` rewritten (`--fleet-only`); the rest keeps the last full run. */
export function renderFleetMarkdown(
  fleet: FleetFigures,
  machine: Figures['machine'],
  existing: string | undefined,
): string {
  const generated = fleetMarkdown(fleet, machineLine({ machine }));
  const replaced =
    replaceBetween(existing, FLEET_BEGIN, FLEET_END, generated) ??
    replaceBetween(existing, END, END, `${generated}\n\n${END}`);
  return replaced ?? `# Performance\n\n${BEGIN}\n\n${generated}\n\n${END}\n`;
}
