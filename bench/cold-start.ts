import { execFile } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
 * The esbuild options serverless-esbuild derives from `custom.esbuild`, so the floor is bundled exactly
 * as the function is. `extraExternal` marks more packages external (the runtime-SDK variant).
 */
export function esbuildOptionsFrom(
  custom: ServerlessEsbuildOptions,
  extraExternal: string[] = [],
): BuildOptions {
  if (custom.plugins !== undefined || custom.config !== undefined) {
    throw new Error(
      'custom.esbuild uses plugins or a config file, which bench/cold-start.ts does not reproduce',
    );
  }
  const merged: Record<string, unknown> = { ...pluginDefaults, ...custom };
  const exclude = (merged.exclude as string[] | undefined) ?? [];
  const options = Object.fromEntries(
    Object.entries(merged).filter(([key]) => !pluginOnlyKeys.includes(key)),
  ) as BuildOptions;
  return {
    ...options,
    external: [
      ...((merged.external as string[] | undefined) ?? []),
      ...(exclude.includes('*') ? [] : exclude),
      ...extraExternal,
    ],
    absWorkingDir: projectRoot,
    logLevel: 'error',
    write: false,
  };
}

export interface Bundle {
  code: Buffer;
  /** The project's own source files in it (not node_modules), relative to the project root. */
  ownSources: string[];
}

/** Bundles one entry point with those options. */
export async function bundle(entry: string, options: BuildOptions): Promise<Bundle> {
  const result = await build({
    ...options,
    entryPoints: [entry],
    outdir: join(projectRoot, '.bench-out'),
    metafile: true,
  });
  const [output, ...others] = result.outputFiles ?? [];
  if (output === undefined || others.length > 0) {
    throw new Error(`bundling ${entry} did not produce exactly one file`);
  }
  const inputs = Object.keys(result.metafile?.inputs ?? {});
  return {
    code: Buffer.from(output.contents),
    ownSources: inputs.filter((input) => !input.includes('node_modules/') && !input.startsWith('(')),
  };
}

export interface Variant {
  name: string;
  file: string;
  bytes: number;
  /** Deflated as a zip stores it: what is uploaded and unpacked. */
  deflatedBytes: number;
}

export async function writeVariant(directory: string, name: string, code: Buffer): Promise<Variant> {
  await mkdir(directory, { recursive: true });
  const file = join(directory, `${name}.mjs`);
  await writeFile(file, code);
  return { name, file, bytes: code.length, deflatedBytes: deflateRawSync(code).length };
}

/**
 * A directory whose bundles resolve bare imports (`@aws-sdk/...`) to the project's node_modules, as
 * the Lambda runtime resolves them to its own copy of the SDK.
 */
export async function runtimeSdkDirectory(directory: string): Promise<string> {
  await mkdir(directory, { recursive: true });
  await symlink(join(projectRoot, 'node_modules'), join(directory, 'node_modules'), 'dir');
  return directory;
}

/** Milliseconds from `import()` called to resolved, in a fresh Node process with `environment`. */
export async function importTime(file: string, environment: Record<string, string>): Promise<number> {
  const script = [
    'const startedAt = performance.now();',
    `const module = await import(${JSON.stringify(pathToFileURL(file).href)});`,
    'const elapsed = performance.now() - startedAt;',
    "if (typeof module.handler !== 'function') throw new Error('no handler export');",
    'process.stdout.write(String(elapsed));',
  ].join('\n');
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', ...environment },
    timeout: 30_000,
  });
  const elapsed = Number(stdout);
  if (!Number.isFinite(elapsed)) throw new Error(`import of ${file} printed ${stdout}`);
  return elapsed;
}

/** Each variant imported `rounds` times, the variants taking turns so drift hits them alike. */
export async function importTimes(
  variants: Variant[],
  environment: Record<string, string>,
  rounds: number,
): Promise<Map<Variant, number[]>> {
  const times = new Map<Variant, number[]>(variants.map((variant) => [variant, []]));
  for (let round = 0; round < rounds; round += 1) {
    for (const variant of variants) times.get(variant)?.push(await importTime(variant.file, environment));
  }
  return times;
}

/** The function's environment as serverless.yml deploys it, with CloudFormation references filled in. */
export function deployedEnvironment(providerEnvironment: Record<string, unknown>): Record<string, string> {
  const environment: Record<string, string> = {
    AWS_REGION: 'eu-west-1',
    AWS_LAMBDA_FUNCTION_NAME: 'taurusdb-proxy-upgrader-bench-upgrade',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_ACCESS_KEY_ID: 'AKIDBENCH',
    AWS_SECRET_ACCESS_KEY: 'bench-secret-access-key',
  };
  for (const [name, value] of Object.entries(providerEnvironment)) {
    environment[name] =
      typeof value === 'string' ? value : `bench-${name.toLowerCase().replaceAll('_', '-')}`;
  }
  return environment;
}

export async function readServerlessState(directory: string): Promise<{
  esbuild: ServerlessEsbuildOptions;
  environment: Record<string, unknown>;
}> {
  const state = JSON.parse(await readFile(join(directory, 'serverless-state.json'), 'utf8'));
  return { esbuild: state.service.custom.esbuild, environment: state.service.provider.environment ?? {} };
}

const NAMED_ZOD_IMPORT = "import { z } from 'zod';";

/** Those of `sources` (paths relative to the project root) that import zod's `z` by name. */
export async function namedZodImports(sources: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const source of sources) {
    if ((await readFile(join(projectRoot, source), 'utf8')).includes(NAMED_ZOD_IMPORT)) found.push(source);
  }
  return found;
}

/**
 * For the what-if row only: bundles the sources as if they imported zod as a namespace. zod's entry
 * exports `z` as a namespace object; a named import of that object keeps every export of zod (all its
 * locales, JSON Schema conversion, ...) in the bundle, while `import * as z` lets esbuild keep only
 * what is used. The deployed bundle is never built this way.
 */
export const zodNamespacePlugin: Plugin = {
  name: 'what-if-zod-namespace',
  setup(builder) {
    const ownSources = new RegExp(
      `^${projectRoot.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\\\\/](functions|lib)[\\\\/].*\\.ts$`,
    );
    builder.onLoad({ filter: ownSources }, async ({ path }) => ({
      contents: (await readFile(path, 'utf8')).replace(NAMED_ZOD_IMPORT, "import * as z from 'zod';"),
      loader: 'ts',
    }));
  },
};
