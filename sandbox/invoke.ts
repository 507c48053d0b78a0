import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type PackagedService,
  packageService,
  readPackagedService,
} from '../test/support/serverless-package.ts';
import { signWebhook } from '../test/support/webhook-signing.ts';
import { createLambdaContext } from './http-adapter.ts';
import { startLocalServices } from './local-services.ts';
import { webhookKeyFrom } from './settings.ts';

/**
 * `npm run invoke -- <upgrade|track> <event file> [--package <dir>] [--stage <stage>]`: one invocation
 * of the PACKAGED bundle (what `serverless package` zips, functions/<name>.mjs) with the environment
 * the packaged template gives the function, its AWS and Huawei endpoints on the loopback stand-ins
 * `npm start` uses (sandbox/local-services.ts). This is what `serverless invoke local` cannot do here:
 * the template's `!Ref` values make osls look the stack up in AWS, and osls never loads the `.mjs` file
 * serverless-esbuild writes.
 *
 * HTTP samples are signed afresh with the sandbox key (their recorded signatures are long stale).
 * stdout: JSON lines, the handler's logs, `{"published":...}`, `{"taurusdb":...}`, `{"queued":...}`,
 * and last `{"result":...}` or `{"error":...}`. Exit codes: 0 the handler returned, 1 it threw, 2
 * nothing was invoked (bad arguments, unreadable file, packaging failed).
 */

const USAGE = `usage: npm run invoke -- <upgrade|track> <event.json> [--package <dir>] [--stage <stage>]

  upgrade|track  the function, as serverless.yml names it
  <event.json>   the event, e.g. events/pipeline-event.json or events/tracking-accepted-event.json
  --package      a directory \`serverless package --package <dir>\` wrote (default: package now)
  --stage        the stage to package for (default: dev)
`;

const FUNCTIONS = ['upgrade', 'track'] as const;

class UsageError extends Error {}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { package: { type: 'string' }, stage: { type: 'string' } },
    allowPositionals: true,
  });
  const [name, file] = positionals;
  if (positionals.length !== 2 || !FUNCTIONS.includes(name as never) || file === undefined) {
    throw new UsageError('name the function (upgrade or track) and one event file');
  }
  return { name: name as (typeof FUNCTIONS)[number], file, packageDir: values.package, stage: values.stage };
}

// biome-ignore lint/suspicious/noExplicitAny: a CloudFormation template is untyped JSON
type Resource = any;

/** The function's resource in the packaged template, and the environment values that are plain strings. */
function functionOf(service: PackagedService, name: string) {
  const resource = Object.values<Resource>(service.template.Resources).find(
    (candidate) => candidate.Properties?.Handler === `functions/${name}.handler`,
  );
  if (resource === undefined) throw new UsageError(`the packaged template has no ${name} function`);
  const variables = resource.Properties.Environment?.Variables ?? {};
  // `!Ref`s (the table, the queue) are filled in by the stand-ins below.
  const env = Object.fromEntries(
    Object.entries<unknown>(variables).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );
  return {
    env,
    functionName: String(resource.Properties.FunctionName),
    timeoutMs: Number(resource.Properties.Timeout) * 1000,
  };
}

/** An HTTP sample with a fresh Standard Webhooks signature; anything else as it is. */
function signedIfHttp(event: Record<string, unknown>, key: string): Record<string, unknown> {
  if (typeof event.requestContext !== 'object' || typeof event.body !== 'string') return event;
  const body =
    event.isBase64Encoded === true ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  const headers = Object.fromEntries(
    Object.entries((event.headers ?? {}) as Record<string, string>).filter(
      ([name]) => !name.toLowerCase().startsWith('webhook-'),
    ),
  );
  const id = `msg_invoke_${Date.now().toString(36)}`;
  const signed = signWebhook({ key, id, timestamp: Math.floor(Date.now() / 1000), body });
  return { ...event, headers: { ...headers, ...signed }, multiValueHeaders: undefined };
}

const line = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

async function packaged(packageDir: string | undefined, stage: string): Promise<PackagedService> {
  if (packageDir !== undefined) return readPackagedService(resolve(packageDir));
  process.stderr.write(`invoke: packaging stage ${stage} (serverless package)...\n`);
  return packageService(stage);
}

export async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>;
  let event: Record<string, unknown>;
  let service: PackagedService;
  try {
    args = parse(argv);
    const cwd = process.env.INIT_CWD ?? process.cwd();
    event = JSON.parse(await readFile(resolve(cwd, args.file), 'utf8'));
    service = await packaged(args.packageDir, args.stage ?? 'dev');
  } catch (error) {
    process.stderr.write(`invoke: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  const fn = functionOf(service, args.name);
  // The whole zip, unpacked as Lambda does: the entry imports its code-split chunks by relative path.
  const files = await service.artifact(args.name);
  const directory = await mkdtemp(join(tmpdir(), 'tpu-invoke-'));
  for (const file of files) {
    await mkdir(dirname(join(directory, file.name)), { recursive: true });
    await writeFile(join(directory, file.name), file.read());
  }
  const entryName = `functions/${args.name}.mjs`;
  if (!files.some((file) => file.name === entryName))
    throw new UsageError(`${args.name}.zip holds no ${entryName}`);
  const bundle = join(directory, entryName);

  const webhookKey = webhookKeyFrom(process.env);
  const services = await startLocalServices({
    credentials: 'password',
    webhookKey,
    idempotency: true,
    upgradeDurationMs: 0,
    onPublished: (published) => line({ published }),
    onQueued: (message) => line({ queued: message }),
    onExchange: (exchange) => line({ taurusdb: exchange }),
  });
  try {
    const env = {
      ...fn.env,
      ...services.env,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
    };
    for (const [name, value] of Object.entries(env)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    const { handler } = (await import(pathToFileURL(bundle).href)) as {
      handler: (event: unknown, context: unknown) => Promise<unknown>;
    };
    const context = createLambdaContext({ functionName: fn.functionName, timeoutMs: fn.timeoutMs });
    try {
      line({ result: await handler(signedIfHttp(event, webhookKey), context) });
      return 0;
    } catch (error) {
      line({ error: error instanceof Error ? { name: error.name, message: error.message } : String(error) });
      return 1;
    }
  } finally {
    await services.close();
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
