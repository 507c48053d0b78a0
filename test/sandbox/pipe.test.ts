import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { main as send } from '../../sandbox/send.ts';
import { captured } from '../support/captured-stream.ts';

/**
 * The README's `npm start --silent | jq -c 'select(.published)'`, with real processes and a real
 * pipe: npm runs the sandbox, its stdout goes into a consumer that plays jq (every line must be JSON,
 * it keeps the `published` ones) and quits after two events, as `jq` stopped by the user or `head`
 * would. The sandbox must then stop on its own, cleanly, instead of dying of EPIPE.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

// A jq stand-in: parses every line (a line that is not JSON is what broke jq), prints the
// `published` ones, and exits once it has seen two, closing its end of the pipe.
const CONSUMER = `
let seen = 0, buffer = '';
const summary = { lines: 0, notJson: [], levels: [], published: [] };
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  let end;
  while ((end = buffer.indexOf('\\n')) >= 0) {
    const line = buffer.slice(0, end); buffer = buffer.slice(end + 1);
    if (line === '') continue;
    summary.lines += 1;
    let value;
    try { value = JSON.parse(line); } catch { summary.notJson.push(line.slice(0, 200)); continue; }
    if (value.level) summary.levels.push(value.level);
    if (value.published) {
      summary.published.push(value.published.DetailType);
      if (summary.published.length === 2) { process.stdout.write(JSON.stringify(summary)); process.exit(0); }
    }
  }
});
`;

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

function collect(stream: NodeJS.ReadableStream | null): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    text += chunk;
  });
  return () => text;
}

async function waitFor(stream: NodeJS.ReadableStream, read: () => string, pattern: RegExp) {
  for (;;) {
    const match = pattern.exec(read());
    if (match) return match;
    const [event] = await Promise.race([once(stream, 'data'), once(stream, 'end').then(() => ['end'])]);
    if (event === 'end') throw new Error(`stream ended without ${pattern}: ${read()}`);
  }
}

async function sendSample(url: string, file: string, env: Record<string, string> = {}) {
  const out = captured();
  const err = captured();
  const code = await send([file, '--url', url], { out: out.stream, err: err.stream, env, cwd: ROOT });
  return { code, answer: JSON.parse(out.text() || '{}') as Record<string, unknown> };
}

describe('npm start --silent | <a JSON-lines reader>', () => {
  it('gives the reader JSON lines only, warnings included, keeps its banner promises, and stops cleanly when the reader goes away', async () => {
    // The README's pipeline as a shell runs it; pipefail makes the shell's status the sandbox's too.
    const pipeline = spawn('bash', ['-c', 'set -o pipefail; npm start --silent | node -e "$CONSUMER"'], {
      cwd: ROOT,
      // Its own process group, so that cleanup reaches npm and its children too.
      detached: true,
      env: {
        ...process.env,
        CONSUMER,
        PORT: '0',
        SANDBOX_UPGRADE_SECONDS: '30',
        SANDBOX_CREDENTIALS: 'token',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(pipeline);
    const stderr = collect(pipeline.stderr);
    const consumerOut = collect(pipeline.stdout);
    const pipelineExit = once(pipeline, 'exit');

    const [, url] = await waitFor(
      pipeline.stderr as NodeJS.ReadableStream,
      stderr,
      /POST (http:\S+\/upgrades)/,
    );
    const banner = stderr();
    expect(banner).toContain("npm start --silent | jq -c 'select(.published)'");
    expect(banner).toContain('again while its workflow runs: Rejected');
    expect(banner).toContain("the tracking-*.json samples are the tracker's");

    // A wrong signature: a WARN line from the handler, which must reach the reader as JSON too.
    const forged = await sendSample(url as string, 'events/http-api-v2.json', {
      SANDBOX_WEBHOOK_KEY: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    });
    expect(forged.code).toBe(1);
    // The banner's promise: the upgrade is accepted, and the same again while its 30 s workflow runs
    // is Rejected ("being upgraded").
    const first = await sendSample(url as string, 'events/http-api-v2.json');
    expect(first.answer.outcomes).toEqual([expect.objectContaining({ outcome: 'accepted' })]);
    const again = await sendSample(url as string, 'events/http-api-v2.json');
    expect(again.answer.outcomes).toEqual([
      expect.objectContaining({
        outcome: 'rejected',
        update_result: [
          expect.objectContaining({ error_message: expect.stringContaining('being upgraded') }),
        ],
      }),
    ]);

    // The reader quits after the second event, printing what it saw.
    await waitFor(pipeline.stdout as NodeJS.ReadableStream, consumerOut, /\}$/);
    const summary = JSON.parse(consumerOut());
    expect(summary.notJson).toEqual([]);
    expect(summary.levels).toContain('WARN');
    expect(summary.published).toEqual(['Proxy Upgrade Accepted', 'Proxy Upgrade Rejected']);

    // The reader is gone; the next line the sandbox writes meets a closed pipe.
    await sendSample(url as string, 'events/pipeline-event.json').catch(() => undefined);
    const [pipelineCode] = await pipelineExit;
    expect(pipelineCode, stderr()).toBe(0);
    expect(stderr()).toContain('sandbox: stdout was closed by its reader, stopping');
    expect(stderr()).not.toMatch(/EPIPE|Unhandled 'error' event/);
  }, 90_000);
});
