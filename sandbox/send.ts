import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { signWebhook } from '../test/support/webhook-signing.ts';
import { TRACKED_DETAIL_TYPES } from './local-tracking.ts';
import { sandboxUrlFrom, UPGRADES_PATH, webhookKeyFrom } from './settings.ts';

const ROLLOUT_PATH = '/rollouts';

/**
 * `npm run send -- events/<file>.json [--id <webhook-id>] [--url <url>]`: signs the file's upgrade
 * payload as a Standard Webhooks sender does and POSTs it to the sandbox (`npm start`): to /upgrades,
 * or to /rollouts for a rollout request (an object with `targets`, e.g. events/rollout.json).
 * `npm run send -- --approve <rollout_id>` (and --pause, --resume, --cancel, --status) makes the
 * signed control call (an empty body, signed like any other) of that rollout.
 *
 * Exit codes: 0 the sandbox answered 2xx; 1 it answered anything else; 2 nothing was sent (bad
 * arguments, unreadable file, sandbox not reachable).
 */

export interface SendIo {
  /** The answer body (pretty JSON). */
  out: Writable;
  /** What was sent and the status line, and any problem. */
  err: Writable;
  env: Record<string, string | undefined>;
  /** Directory relative file names are read from. */
  cwd: string;
  /** Epoch milliseconds, for `webhook-timestamp`. */
  now: () => number;
  fetch: typeof fetch;
}

export interface Payload {
  body: string;
  contentType: string;
  /** Where it goes: the upgrades route, or the rollouts route for a rollout request. */
  path: string;
  /** What part of the file the body is, for the person at the terminal. */
  origin: string;
}

const USAGE = `usage: npm run send -- <file.json> [--id <webhook-id>] [--url <url>]
       npm run send -- --approve|--pause|--resume|--cancel|--status <rollout_id> [--url <base url>]

  <file.json>  an events/ sample: an HTTP event (its body is sent), an EventBridge event (its detail
               is sent), or an upgrade request or batch (sent as is); a rollout request (with
               targets, events/rollout.json) goes to /rollouts; the tracking-*.json samples
               are the tracker's (npm run invoke -- track <file>)
  --approve    POST /rollouts/<rollout_id>/approve: opens the gate of a rollout awaiting approval;
  --pause, --resume, --cancel likewise; --status: GET /rollouts/<rollout_id>
  --id         webhook-id to use instead of a fresh one; the same id again shows duplicate suppression
  --url        where to POST (default http://127.0.0.1:$PORT/upgrades or /rollouts, PORT defaulting
               to 3000); with a control option, the sandbox's base URL
`;

const CONTROLS = ['approve', 'pause', 'resume', 'cancel', 'status'] as const;
type Control = (typeof CONTROLS)[number];

const ANSWER_TIMEOUT_MS = 60_000;

class UsageError extends Error {}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function headerIn(headers: unknown, name: string): string | undefined {
  if (!isObject(headers)) return undefined;
  const found = Object.entries(headers).find(([key]) => key.toLowerCase() === name);
  return typeof found?.[1] === 'string' ? found[1] : undefined;
}

/**
 * The body to send for a sample file. HTTP samples keep their body byte for byte (decoded from base64
 * when so marked) and their content type; anything else is sent as compact JSON.
 */
export function payloadOf(text: string, file: string): Payload {
  let sample: unknown;
  try {
    sample = JSON.parse(text);
  } catch {
    throw new UsageError(`${file} is not JSON`);
  }
  if (isObject(sample) && isObject(sample.requestContext)) {
    if (typeof sample.body !== 'string') throw new UsageError(`${file} is an HTTP event without a body`);
    const encoded = sample.isBase64Encoded === true;
    const body = encoded ? Buffer.from(sample.body, 'base64').toString('utf8') : sample.body;
    return {
      body,
      contentType: headerIn(sample.headers, 'content-type') ?? 'application/json',
      path: pathFor(body),
      origin: `the body of an HTTP event${encoded ? ' (base64-decoded)' : ''}`,
    };
  }
  const forTracker = trackerSample(sample);
  if (forTracker !== undefined) {
    throw new UsageError(
      `${file} is ${forTracker} for the tracking function (functions/track.ts), not an upgrade request; ` +
        `the sandbox's tracker gets those by itself, or run it alone: npm run invoke -- track ${file}`,
    );
  }
  if (isObject(sample) && typeof sample['detail-type'] === 'string' && 'detail' in sample) {
    return {
      body: JSON.stringify(sample.detail),
      contentType: 'application/json',
      path: pathFor(sample.detail),
      origin: `the detail of an EventBridge "${sample['detail-type']}" event`,
    };
  }
  return {
    body: JSON.stringify(sample),
    contentType: 'application/json',
    path: pathFor(sample),
    origin: 'the whole file',
  };
}

/** A rollout request (functions/rollouts.ts: an object with `targets`) goes to /rollouts, the rest to /upgrades. */
function pathFor(body: unknown): string {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return UPGRADES_PATH;
    }
  }
  return isObject(value) && Array.isArray(value.targets) ? ROLLOUT_PATH : UPGRADES_PATH;
}

/** What the sample is when it is one of the tracker's (events/tracking-*.json), else undefined. */
function trackerSample(sample: unknown): string | undefined {
  if (!isObject(sample)) return undefined;
  const detailType = sample['detail-type'];
  if (typeof detailType === 'string' && TRACKED_DETAIL_TYPES.includes(detailType)) {
    return `a "${detailType}" event`;
  }
  const records = sample.Records;
  if (
    Array.isArray(records) &&
    records.some((record) => isObject(record) && record.eventSource === 'aws:sqs')
  ) {
    return 'a tracking-queue (SQS) batch';
  }
  return undefined;
}

export function newWebhookId(): string {
  return `msg_${randomBytes(15).toString('base64url')}`;
}

function parse(argv: string[]) {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        id: { type: 'string' },
        url: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        approve: { type: 'string' },
        pause: { type: 'string' },
        resume: { type: 'string' },
        cancel: { type: 'string' },
        status: { type: 'string' },
      },
      allowPositionals: true,
    });
    if (values.help) return { help: true as const };
    const controls = CONTROLS.filter((name) => values[name] !== undefined);
    if (controls.length > 1) throw new UsageError(`name one of --${CONTROLS.join(', --')}`);
    const control = controls[0];
    const rolloutId = control === undefined ? undefined : String(values[control]).trim();
    if (rolloutId === '') throw new UsageError(`--${control} needs a rollout_id`);
    if (control === undefined && positionals.length !== 1) throw new UsageError('name exactly one JSON file');
    if (control !== undefined && positionals.length !== 0)
      throw new UsageError(`--${control} takes a rollout_id, not a file`);
    if (values.id !== undefined && values.id.trim() === '') throw new UsageError('--id must not be empty');
    if (values.url !== undefined && !URL.canParse(values.url)) throw new UsageError('--url must be a URL');
    return {
      help: false as const,
      file: positionals[0],
      control:
        control === undefined ? undefined : { action: control as Control, rolloutId: rolloutId as string },
      id: values.id,
      url: values.url,
    };
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** What a control option sends: the method, the path and an empty body (signed like any other). */
function controlRequest(control: { action: Control; rolloutId: string }) {
  const base = `${ROLLOUT_PATH}/${encodeURIComponent(control.rolloutId)}`;
  return control.action === 'status'
    ? { method: 'GET', path: base, origin: 'the rollout status call' }
    : { method: 'POST', path: `${base}/${control.action}`, origin: `the rollout ${control.action} call` };
}

function connectionProblem(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (cause instanceof Error && cause.name === 'TimeoutError')
    return `no answer within ${ANSWER_TIMEOUT_MS / 1000} s`;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return code ?? (cause instanceof Error ? cause.message : String(cause));
}

function prettyBody(text: string): string {
  try {
    return `${JSON.stringify(JSON.parse(text), null, 2)}\n`;
  } catch {
    return text.endsWith('\n') || text === '' ? text : `${text}\n`;
  }
}

/** The CLI, with its I/O passed in so tests run it in-process. Resolves to the exit code. */
export async function main(argv: string[], io: Partial<SendIo> = {}): Promise<number> {
  const out = io.out ?? process.stdout;
  const err = io.err ?? process.stderr;
  const env = io.env ?? process.env;
  // npm runs scripts from the package root; INIT_CWD is where `npm run send` was typed.
  const cwd = io.cwd ?? env.INIT_CWD ?? process.cwd();
  const now = io.now ?? Date.now;
  const doFetch = io.fetch ?? fetch;

  let args: ReturnType<typeof parse>;
  let payload: Payload;
  let method = 'POST';
  let url: string;
  try {
    args = parse(argv);
    if (args.help) {
      out.write(USAGE);
      return 0;
    }
    if (args.control !== undefined) {
      const call = controlRequest(args.control);
      method = call.method;
      payload = { body: '', contentType: 'application/json', path: call.path, origin: call.origin };
      url = `${(args.url ?? sandboxUrlFrom(env)).replace(/\/+$/, '')}${call.path}`;
    } else {
      const file = args.file as string;
      let text: string;
      try {
        text = await readFile(resolve(cwd, file), 'utf8');
      } catch (error) {
        throw new UsageError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      payload = payloadOf(text, file);
      url = args.url ?? `${sandboxUrlFrom(env)}${payload.path}`;
    }
  } catch (error) {
    err.write(`send: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }

  const id = args.id ?? newWebhookId();
  const signature = signWebhook({
    key: webhookKeyFrom(env),
    id,
    timestamp: Math.floor(now() / 1000),
    body: payload.body,
  });
  err.write(
    `-> ${method} ${url}\n   ${args.file ?? args.control?.rolloutId}: ${payload.origin}, ${Buffer.byteLength(payload.body)} bytes\n` +
      `   webhook-id ${id}${args.id === undefined ? ` (send it again with --id ${id} to see duplicate suppression)` : ''}\n`,
  );

  let response: Response;
  let answer: string;
  try {
    response = await doFetch(url, {
      method,
      headers: {
        'content-type': payload.contentType,
        accept: 'application/json',
        'user-agent': 'taurusdb-proxy-upgrader-sandbox-send',
        ...signature,
      },
      ...(method === 'GET' ? {} : { body: payload.body }),
      signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
    });
    answer = await response.text();
  } catch (error) {
    err.write(`send: could not reach ${url} (${connectionProblem(error)}): is \`npm start\` running?\n`);
    return 2;
  }
  err.write(`<- ${response.status} ${response.statusText}\n`);
  out.write(prettyBody(answer));
  return response.ok ? 0 : 1;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
