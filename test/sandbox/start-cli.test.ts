import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { main as send } from '../../sandbox/send.ts';
import { sandboxOptionsFromEnv } from '../../sandbox/start.ts';
import { captured } from '../support/captured-stream.ts';

/**
 * `node sandbox/start.ts` as `npm start` runs it: a child process, configured through the
 * environment, stopped by a signal.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BANNER_URL = /POST (http:\/\/127\.0\.0\.1:\d+\/upgrades)/;

let child: ChildProcess | undefined;
afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
});

/** Resolves with the first match of `pattern` in what `read` returns, once `stream` has written it. */
async function waitFor(
  stream: NodeJS.ReadableStream,
  read: () => string,
  pattern: RegExp,
): Promise<RegExpExecArray> {
  for (;;) {
    const match = pattern.exec(read());
    if (match) return match;
    // Bounded by the test timeout; each wait ends with the next chunk or the end of the stream.
    const [event] = await Promise.race([once(stream, 'data'), once(stream, 'end').then(() => ['end'])]);
    if (event === 'end') throw new Error(`stream ended without ${pattern}: ${read()}`);
  }
}

/** `node sandbox/start.ts` with these variables, its output collected as it comes. */
function startCli(env: Record<string, string>) {
  const started = spawn(process.execPath, ['sandbox/start.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = started;
  const output = { stdout: '', stderr: '' };
  started.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output.stdout += chunk;
  });
  started.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output.stderr += chunk;
  });
  return {
    process: started,
    output,
    stdoutStream: started.stdout as NodeJS.ReadableStream,
    stderrStream: started.stderr as NodeJS.ReadableStream,
  };
}

describe('node sandbox/start.ts', () => {
  it('serves the handler with the token-form secret, prints events on stdout, and stops cleanly on SIGTERM', async () => {
    const {
      process: sandbox,
      output,
      stdoutStream,
      stderrStream,
    } = startCli({
      SANDBOX_CREDENTIALS: 'token',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });

    const [, url] = await waitFor(stderrStream, () => output.stderr, BANNER_URL);
    expect(output.stderr).toContain('credentials secret in the token form');
    expect(output.stderr).toMatch(/PORT=\d+ npm run send -- events\/http-api-v2\.json/);

    const out = captured();
    const code = await send(['events/scheduled-rule.json', '--url', url as string], {
      out: out.stream,
      err: captured().stream,
      env: {},
      cwd: ROOT,
    });
    expect(code).toBe(0);
    expect(JSON.parse(out.text()).outcomes).toEqual([expect.objectContaining({ outcome: 'accepted' })]);
    await waitFor(
      stdoutStream,
      () => output.stdout,
      /"published":\{[^\n]*"DetailType":"Proxy Upgrade Accepted"/,
    );
    // The static token authorised the call: TaurusDB answered 200, not 401.
    expect(output.stdout).toMatch(/"taurusdb":\{"method":"POST"[^\n]*"status":200/);

    const exited = once(sandbox, 'exit');
    sandbox.kill('SIGTERM');
    const [exitCode] = await exited;
    expect(exitCode).toBe(0);
    expect(output.stderr).toContain('sandbox: SIGTERM, stopping');
  });

  it("keeps the user's TRACKING_* settings, and says cold_start: true on the first invocation only", async () => {
    const { output, stdoutStream, stderrStream } = startCli({
      TRACKING_INITIAL_DELAY_SECONDS: '4',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
    const [, url] = await waitFor(stderrStream, () => output.stderr, BANNER_URL);
    // Its own default is 2 s; the user's 4 s must win.
    expect(output.stderr).toContain('(every 4 s growing to 5 s)');

    for (const file of ['events/scheduled-rule.json', 'events/pipeline-event.json']) {
      const code = await send([file, '--url', url as string], {
        out: captured().stream,
        err: captured().stream,
        env: {},
        cwd: ROOT,
      });
      expect(code, file).toBe(0);
    }
    await waitFor(stdoutStream, () => output.stdout, /("message":"target outcome".*){2}/s);
    const outcomes = output.stdout
      .split('\n')
      .filter((line) => line.includes('"message":"target outcome"'))
      .map((line) => JSON.parse(line) as { cold_start: boolean; function_request_id: string });
    const requests = [...new Set(outcomes.map((line) => line.function_request_id))];
    expect(requests).toHaveLength(2);
    const coldStarts = (requestId: string | undefined) => [
      ...new Set(
        outcomes.filter((line) => line.function_request_id === requestId).map((line) => line.cold_start),
      ),
    ];
    expect(coldStarts(requests[0])).toEqual([true]);
    expect(coldStarts(requests[1])).toEqual([false]);
  });

  it('exits 1 naming the variable when a setting is wrong', async () => {
    child = spawn(process.execPath, ['sandbox/start.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', SANDBOX_CREDENTIALS: 'aksk' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });

    const [exitCode] = await once(child, 'exit');

    expect(exitCode).toBe(1);
    expect(stderr).toContain('SANDBOX_CREDENTIALS must be password or token');
  });
});

describe('sandboxOptionsFromEnv', () => {
  it('reads the credentials form and the upgrade duration', () => {
    expect(sandboxOptionsFromEnv({})).toEqual({});
    expect(sandboxOptionsFromEnv({ SANDBOX_CREDENTIALS: 'token', SANDBOX_UPGRADE_SECONDS: '2.5' })).toEqual({
      credentials: 'token',
      upgradeDurationMs: 2_500,
    });
  });

  it('refuses a duration that is not a number of seconds', () => {
    expect(() => sandboxOptionsFromEnv({ SANDBOX_UPGRADE_SECONDS: '-1' })).toThrow(
      'SANDBOX_UPGRADE_SECONDS must be a number of seconds',
    );
  });
});
