import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import { type BuildOptions, build, type Plugin } from 'esbuild';
import { projectRoot } from '../test/support/serverless-package.ts';

const run = promisify(execFile);

/** `custom.esbuild` of serverless.yml, as `serverless package` resolved it (serverless-state.json). */
export type ServerlessEsbuildOptions = Record<string, unknown>;

// serverless-esbuild's own defaults, which custom.esbuild is merged over (its index.ts), and the keys it
// strips before handing the rest to esbuild (its bundle.ts).
const pluginDefaults = {
  bundle: true,
  outputFileExtension: '.js',
  target: 'node18',
  external: [],
  exclude: ['aws-sdk'],
  platform: 'node',
};
const pluginOnlyKeys = [
  'concurrency',
  'zipConcurrency',
  'exclude',
  'nativeZip',
  'packager',
  'packagePath',
  'watch',
  'keepOutputDirectory',
  'packagerOptions',
  'installExtraArgs',
  'outputFileExtension',
  'outputBuildFolder',
  'outputWorkFolder',
  'nodeExternals',
  'skipBuild',
  'skipRebuild',
  'skipBuildExcludeFns',
  'stripEntryResolveExtensions',
  'disposeContext',
];

/**
 * The esbuild options serverless-esbuild derives from `custom.esbuild`, its plugins file loaded as it
 * loads it, so the floor is bundled exactly as the function is.
 */
export async function esbuildOptionsFrom(custom: ServerlessEsbuildOptions): Promise<BuildOptions> {
  if (custom.config !== undefined) {
    throw new Error('custom.esbuild uses a config file, which bench/cold-start.ts does not reproduce');
  }
  const merged: Record<string, unknown> = { ...pluginDefaults, ...custom };
  const exclude = (merged.exclude as string[] | undefined) ?? [];
  const { plugins, ...options } = Object.fromEntries(
    Object.entries(merged).filter(([key]) => !pluginOnlyKeys.includes(key)),
  ) as BuildOptions & { plugins?: unknown };
  const loaded =
    typeof plugins === 'string'
      ? ((await import(pathToFileURL(join(projectRoot, plugins)).href)) as { default: Plugin[] }).default
      : ((plugins as Plugin[] | undefined) ?? []);
  const extension = merged.outputFileExtension as string | undefined;
  return {
    ...options,
    plugins: loaded,
    ...(extension && extension !== '.js' ? { outExtension: { '.js': extension } } : {}),
    external: [
      ...((merged.external as string[] | undefined) ?? []),
      ...(exclude.includes('*') ? [] : exclude),
    ],
    absWorkingDir: projectRoot,
    logLevel: 'error',
    write: false,
  };
}

/** Files of one build or one zip, by path relative to the function's root (`functions/...`). */
export type BuiltFiles = Map<string, Buffer>;

/** Bundles one entry point with those options, as serverless-esbuild does (outdir: the entry's folder). */
export async function bundle(entry: string, options: BuildOptions): Promise<BuiltFiles> {
  const outdir = join(projectRoot, '.bench-out');
  const result = await build({ ...options, entryPoints: [entry], outdir: join(outdir, dirname(entry)) });
  return new Map(
    (result.outputFiles ?? []).map((file) => [relative(outdir, file.path), Buffer.from(file.contents)]),
  );
}

export function sameFiles(a: BuiltFiles, b: BuiltFiles): boolean {
  return a.size === b.size && [...a].every(([name, code]) => b.get(name)?.equals(code) === true);
}

export interface Variant {
  name: string;
  /** The entry module, `<directory>/functions/<name>.mjs`. */
  file: string;
  /** Every file of the variant (entry and chunks), and deflated as a zip stores them. */
  bytes: number;
  deflatedBytes: number;
}

/** Writes the files under `directory`; `entry` is the entry module's path among them. */
export async function writeVariant(
  directory: string,
  name: string,
  files: BuiltFiles,
  entry: string,
): Promise<Variant> {
  let bytes = 0;
  let deflatedBytes = 0;
  for (const [path, code] of files) {
    await mkdir(dirname(join(directory, path)), { recursive: true });
    await writeFile(join(directory, path), code);
    bytes += code.length;
    deflatedBytes += deflateRawSync(code).length;
  }
  if (!files.has(entry)) throw new Error(`${name}: no ${entry} among ${[...files.keys()].join(', ')}`);
  return { name, file: join(directory, entry), bytes, deflatedBytes };
}

/** One cold start in a fresh process: the import, then the first invocation, each timed. */
export interface ColdStart {
  importMs: number;
  /** From the import resolved to the first answer. */
  firstMs: number;
  /** Import + first invocation: what a Lambda user waits for. */
  totalMs: number;
  /** process.cpuUsage() (user + system) over the same span, every thread of the process. */
  cpuMs: number;
  /** Bytes of the bundle's files Node had loaded when the first answer came back. */
  loadedBytes: number;
  /** Why the answer is not 200 with the one target accepted; undefined when it is. */
  problem: string | undefined;
}

/**
 * The child's script: imports `file`, invokes its handler once with the event in argv[1], prints the
 * figures. With `countBytes`, a module hook first records each file Node loads (a separate run, so
 * the hook's own cost is in no timing).
 */
function coldStartScript(file: string, countBytes: boolean): string {
  return [
    "import { statSync } from 'node:fs';",
    "import { registerHooks } from 'node:module';",
    'const loaded = new Set();',
    countBytes
      ? 'registerHooks({ load(url, context, next) { loaded.add(url); return next(url, context); } });'
      : '',
    'const event = JSON.parse(process.argv[1]);',
    'const deadline = Date.now() + 29000;',
    "const context = { awsRequestId: 'cold-' + process.pid, functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:bench', memoryLimitInMB: '512', logGroupName: 'bench', logStreamName: 'bench', callbackWaitsForEmptyEventLoop: true, getRemainingTimeInMillis: () => deadline - Date.now() };",
    'const cpu = process.cpuUsage();',
    'const startedAt = performance.now();',
    `const module = await import(${JSON.stringify(pathToFileURL(file).href)});`,
    'const importedAt = performance.now();',
    'const answer = await module.handler(event, context);',
    'const answeredAt = performance.now();',
    'const used = process.cpuUsage(cpu);',
    "const bytes = [...loaded].filter((url) => url.startsWith('file:')).reduce((total, url) => total + statSync(new URL(url)).size, 0);",
    'process.stdout.write("\\n@@cold " + JSON.stringify({ importMs: importedAt - startedAt, firstMs: answeredAt - importedAt, cpuMs: (used.user + used.system) / 1000, bytes, answer }));',
    'process.exit(0);',
  ].join('\n');
}

/** One cold start of `file` in a fresh Node process with `environment`, invoked with `event`. */
export async function coldStart(
  file: string,
  environment: Record<string, string>,
  event: unknown,
  describeProblem: (answer: unknown) => string | undefined,
  countBytes = false,
): Promise<ColdStart> {
  const { stdout } = await run(
    process.execPath,
    ['--input-type=module', '-e', coldStartScript(file, countBytes), JSON.stringify(event)],
    { env: { PATH: process.env.PATH ?? '', ...environment }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
  );
  // The handler logs to stdout too: the figures are the line after the marker.
  const marker = stdout.lastIndexOf('\n@@cold ');
  if (marker < 0) throw new Error(`cold start of ${file} printed no figures: ${stdout.slice(-500)}`);
  const printed = JSON.parse(stdout.slice(marker + '\n@@cold '.length));
  return {
    importMs: printed.importMs,
    firstMs: printed.firstMs,
    totalMs: printed.importMs + printed.firstMs,
    cpuMs: printed.cpuMs,
    loadedBytes: printed.bytes,
    problem: describeProblem(printed.answer),
  };
}

export async function readServerlessState(directory: string): Promise<{
  esbuild: ServerlessEsbuildOptions;
  environment: Record<string, unknown>;
}> {
  const state = JSON.parse(await readFile(join(directory, 'serverless-state.json'), 'utf8'));
  return { esbuild: state.service.custom.esbuild, environment: state.service.provider.environment ?? {} };
}
