import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_LATEST_VERSION, SAMPLE_PROXIES } from '../../sandbox/sample-proxies.ts';
import { payloadOf, main as send } from '../../sandbox/send.ts';
import { SANDBOX_WEBHOOK_KEY } from '../../sandbox/settings.ts';
import { type Sandbox, sandboxNames, startSandbox } from '../../sandbox/start.ts';
import { captured } from '../support/captured-stream.ts';

/**
 * `npm start` and `npm run send` end to end, in this process: the real handler behind the HTTP API
 * adapter, every service on 127.0.0.1. One sandbox for the whole file (the handler reads its
 * configuration once per process), so the tests run in order on one evolving state.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SAMPLE = JSON.parse(
  JSON.parse(await readFile(new URL('../../events/http-api-v2.json', import.meta.url), 'utf8')).body,
);

const sandboxOut = captured();
const sandboxLog = captured();
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({
    port: 0,
    out: sandboxOut.stream,
    log: sandboxLog.stream,
    // The handler's own logs go straight to the process's stdout; keep the test output readable.
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
  });
});
afterAll(async () => {
  await sandbox?.stop();
});

async function runSend(argv: string[], url = sandbox.upgradesUrl) {
  const out = captured();
  const err = captured();
  const code = await send([...argv, '--url', url], {
    out: out.stream,
    err: err.stream,
    env: {},
    cwd: ROOT,
  });
  return { code, answer: JSON.parse(out.text()) as Record<string, unknown>, err: err.text() };
}

/** The `{"published": ...}` lines the sandbox printed so far. */
function publishedLines(): Array<{
  DetailType: string;
  Detail: Record<string, unknown>;
  EventBusName: string;
}> {
  return sandboxOut
    .text()
    .split('\n')
    .filter((line) => line.startsWith('{"published":'))
    .map((line) => JSON.parse(line).published);
}

function upgradeCalls(): number {
  return sandbox.taurusDb.server.requests.filter((request) => request.url.endsWith('/upgrade-version'))
    .length;
}

const webhookIdOf = (err: string) => /webhook-id (msg_\S+)/.exec(err)?.[1];

describe('npm start + npm run send', () => {
  let firstWebhookId: string | undefined;

  it('upgrades the sample proxy: 200 accepted, TaurusDB moved, the Accepted event printed as it was published', async () => {
    const { code, answer, err } = await runSend(['events/http-api-v2.json']);
    firstWebhookId = webhookIdOf(err);

    expect(code).toBe(0);
    expect(answer.outcomes).toEqual([
      expect.objectContaining({
        proxy_id: SAMPLE.proxy_id,
        outcome: 'accepted',
        update_result: [expect.objectContaining({ state: 'ACCEPT', instance_id: SAMPLE.instance_id })],
        replayed: false,
      }),
    ]);
    expect(sandbox.taurusDb.versionOf(SAMPLE.project_id, SAMPLE.instance_id, SAMPLE.proxy_id)).toBe(
      SAMPLE_LATEST_VERSION,
    );
    const [event] = publishedLines();
    expect(event).toMatchObject({
      DetailType: 'Proxy Upgrade Accepted',
      EventBusName: sandboxNames.eventBusName,
      Detail: {
        request: { proxy_id: SAMPLE.proxy_id, target_version: SAMPLE_LATEST_VERSION },
        trigger: { kind: 'http', id: firstWebhookId, change_id: SAMPLE.change_id },
      },
    });
    expect(sandbox.events).toHaveLength(1);
    // The password form ran: one project-scoped token from the local IAM.
    expect(sandbox.iam.tokenRequests(SAMPLE.project_id)).toBe(1);
  });

  it('the same proxy again: the version read finds it at the target, so it is skipped without an upgrade call', async () => {
    const callsBefore = upgradeCalls();
    const { code, answer } = await runSend(['events/http-api-v2.json']);

    expect(code).toBe(0);
    expect(answer.outcomes).toEqual([
      expect.objectContaining({
        outcome: 'skipped',
        reason: 'proxy is already at 2.24.03.000',
        versions: { current_version: '2.24.03.000', latest_version: '2.24.03.000', can_upgrade: false },
      }),
    ]);
    expect(upgradeCalls()).toBe(callsBefore);
    expect(publishedLines().map((event) => event.DetailType)).toEqual(
      expect.arrayContaining(['Proxy Upgrade Accepted', 'Proxy Upgrade Skipped']),
    );
  });

  it('a redelivery (same webhook-id) replays the stored result without calling TaurusDB again', async () => {
    const callsBefore = upgradeCalls();

    const { code, answer } = await runSend(['events/http-api-v2.json', '--id', firstWebhookId ?? 'unset']);

    expect(code).toBe(0);
    expect(answer.outcomes).toEqual([expect.objectContaining({ outcome: 'accepted', replayed: true })]);
    expect(upgradeCalls()).toBe(callsBefore);
    const events = publishedLines();
    // The same event, with the same event_id, published again.
    expect(events.at(-1)).toEqual(events[0]);
  });

  it('every events/ sample goes through the handler: each target gets an outcome, none is refused at the door', async () => {
    // tracking-*.json are what the tracker (functions/track.ts) receives, not upgrade requests; a
    // scheduled rule without input is the shape the function refuses (README "Schedules");
    // scheduler-deferred-*.json is what only the function's own schedules deliver (a deferral object);
    // rollout*.json is a fleet rollout: send takes it to /rollouts (functions/rollouts.ts), which
    // answers with the rollout (test/sandbox/rollout.test.ts runs one to its end).
    const files = (await readdir(new URL('../../events/', import.meta.url))).filter(
      (file) =>
        file.endsWith('.json') &&
        !file.startsWith('tracking-') &&
        !file.endsWith('-without-input.json') &&
        !file.startsWith('scheduler-deferred-'),
    );
    expect(files.length).toBeGreaterThanOrEqual(6);

    for (const file of files) {
      const payload = JSON.parse(
        payloadOf(await readFile(new URL(`../../events/${file}`, import.meta.url), 'utf8'), file).body,
      );
      const targets = Array.isArray(payload.upgrades) ? payload.upgrades.length : 1;

      if (Array.isArray(payload.targets)) {
        const rollout = await runSend([`events/${file}`], `${sandbox.url}/rollouts`);
        expect(rollout.code, `${file}: ${JSON.stringify(rollout.answer)}`).toBe(0);
        // Without a rollout_id (events/rollout-scheduler-input.json) it is derived from the webhook-id.
        expect(rollout.answer, file).toMatchObject({
          rollout_id: payload.rollout_id ?? expect.stringMatching(/^r-[0-9a-f]{32}$/),
          replayed: false,
        });
        continue;
      }
      const { code, answer } = await runSend([`events/${file}`]);

      // 0 or 1: the handler answered (DBS.05000008 for a single target comes back as its 400).
      expect(code, file).toBeLessThan(2);
      expect((answer.outcomes as unknown[] | undefined)?.length, file).toBe(targets);
    }
    // The second sample proxy was upgraded by the batches.
    const samples = new Set(SAMPLE_PROXIES.map((proxy) => proxy.proxyId));
    expect(
      sandbox.taurusDb
        .proxies()
        .filter((proxy) => samples.has(proxy.proxyId))
        .map((proxy) => proxy.version),
    ).toEqual([SAMPLE_LATEST_VERSION, SAMPLE_LATEST_VERSION]);
  });

  it("an unknown path reaches the handler through $default and gets the handler's 404", async () => {
    const response = await fetch(`${sandbox.url}/nowhere`, { method: 'POST', body: '{}' });

    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ message: expect.stringContaining('use POST /upgrades') });
  });

  it('a wrong signature is refused with 401 and TaurusDB is not called', async () => {
    const callsBefore = upgradeCalls();
    const body = JSON.stringify(SAMPLE);

    const response = await fetch(sandbox.upgradesUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'msg_forged',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')}`,
      },
      body,
    });

    expect(response.status).toBe(401);
    expect(upgradeCalls()).toBe(callsBefore);
  });

  it('never prints the webhook key, the IAM password or an issued token', () => {
    const printed = sandboxOut.text() + sandboxLog.text();
    const secrets = [
      SANDBOX_WEBHOOK_KEY,
      ...sandbox.iam.users.map((user) => user.password),
      ...sandbox.iam.issuedTokens.map((issued) => issued.token),
    ];

    expect(sandbox.iam.issuedTokens.length).toBeGreaterThan(0);
    for (const secret of secrets) expect(printed).not.toContain(secret);
    expect(sandboxLog.text()).toContain('npm run send -- events/http-api-v2.json');
  });

  it('refuses a second sandbox in the same process, saying why', async () => {
    await expect(startSandbox({ port: 0 })).rejects.toThrow('startSandbox runs once per process');
  });
});
