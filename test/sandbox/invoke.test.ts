import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { type PackagedService, packageService, projectRoot } from '../support/serverless-package.ts';

/**
 * `npm run invoke` as a person runs it: a child process that loads the packaged bundle (not the
 * sources) with the packaged template's environment, against the loopback stand-ins it starts itself.
 * The package is made once here (under the packaging lock) and handed over with --package.
 */

const run = promisify(execFile);
let service: PackagedService;

beforeAll(async () => {
  service = await packageService();
}, 180_000);

type Line = Record<string, unknown>;

async function invoke(...args: string[]): Promise<{ code: number; lines: Line[]; stderr: string }> {
  const argv = ['sandbox/invoke.ts', ...args, '--package', service.directory];
  const { code, stdout, stderr } = await run(process.execPath, argv, { cwd: projectRoot }).then(
    (done) => ({ code: 0, ...done }),
    (failed: { code: number; stdout: string; stderr: string }) => failed,
  );
  const lines = stdout
    .split('\n')
    .filter(Boolean)
    .map((text) => JSON.parse(text) as Line);
  return { code, lines, stderr };
}

const published = (lines: Line[]) =>
  lines.flatMap((line) => (line.published ? [(line.published as { DetailType: string }).DetailType] : []));

describe('npm run invoke (the packaged bundle, its own stand-ins)', () => {
  it('runs the upgrade function on a pipeline event: TaurusDB called, Accepted published, the result last', async () => {
    const { code, lines } = await invoke('upgrade', 'events/pipeline-event.json');
    expect(code).toBe(0);
    expect(lines.some((line) => (line.taurusdb as { method?: string } | undefined)?.method === 'POST')).toBe(
      true,
    );
    expect(published(lines)).toContain('Proxy Upgrade Accepted');
    const result = lines.at(-1)?.result as { outcomes: Array<{ outcome: string }> };
    expect(result.outcomes.map((outcome) => outcome.outcome)).toContain('accepted');
    // The bundle ran as deployed: its log lines say which function, and error names are not minified.
    expect(lines.find((line) => line.message === 'target outcome')).toMatchObject({
      function_name: 'taurusdb-proxy-upgrader-test-upgrade',
      cold_start: true,
    });
  });

  it('signs an HTTP sample afresh, so the webhook check lets it in', async () => {
    const { code, lines } = await invoke('upgrade', 'events/http-api-v2.json');
    expect(code).toBe(0);
    expect(lines.at(-1)?.result).toMatchObject({ statusCode: 200 });
  });

  it('runs the tracker on its sample Accepted event', async () => {
    const { code, lines } = await invoke('track', 'events/tracking-accepted-event.json');
    expect(code).toBe(0);
    expect(lines.at(-1)?.result).toMatchObject({ follow: 'workflow', attempt: 0 });
  });

  it('exits 1 with the error, its class name intact, when the handler throws', async () => {
    const { code, lines } = await invoke('upgrade', 'events/tracking-accepted-event.json');
    expect(code).toBe(1);
    expect(lines.at(-1)?.error).toMatchObject({ name: 'UnknownEventError' });
  });

  it('exits 2 naming the problem when the function is not one of the two', async () => {
    const { code, stderr } = await invoke('deploy', 'events/pipeline-event.json');
    expect(code).toBe(2);
    expect(stderr).toContain('name the function (upgrade or track)');
  });
});
