import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_LATEST_VERSION, SANDBOX_FLEET } from '../../sandbox/sample-proxies.ts';
import { main as send } from '../../sandbox/send.ts';
import { type Sandbox, startSandbox } from '../../sandbox/start.ts';
import { captured } from '../support/captured-stream.ts';

/**
 * `npm start` + `npm run send -- events/rollout.json` in this process: the rollouts function behind
 * the HTTP adapter on /rollouts, its state machine read from serverless.yml and run on
 * aws-local-stepfunctions through the Step Functions stand-in, the tracker on too (it must leave a
 * rollout's upgrades to the tick). The sample has an approval gate after each wave but the last.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ROLLOUT_ID = 'kernel-2-24-canary';
const sandboxOut = captured();
const sandboxLog = captured();
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({
    port: 0,
    out: sandboxOut.stream,
    log: sandboxLog.stream,
    tracking: true,
    upgradeDurationMs: 0,
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
  });
});
afterAll(async () => {
  await sandbox?.stop();
});

/** `npm run send` as typed, its URL from PORT as `npm start` printed it. */
async function runSend(argv: string[]) {
  const out = captured();
  const err = captured();
  const code = await send(argv, {
    out: out.stream,
    err: err.stream,
    env: { PORT: new URL(sandbox.url).port },
    cwd: ROOT,
  });
  return { code, answer: JSON.parse(out.text()) as Record<string, unknown>, err: err.text() };
}

const detailTypes = () => sandbox.events.map((entry) => entry.DetailType ?? '');
const count = (detailType: string) => detailTypes().filter((type) => type === detailType).length;

/** The proxy ids TaurusDB was asked to upgrade, one per POST. */
function upgradePosts(): string[] {
  return sandbox.taurusDb.server.requests
    .filter((request) => request.method === 'POST' && request.url.endsWith('/upgrade-version'))
    .map((request) => /\/proxy\/([^/]+)\/upgrade-version$/.exec(request.url)?.[1] ?? '');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a fleet rollout in the sandbox', () => {
  it('runs events/rollout.json wave by wave, holds at each gate until approved, and completes with one POST per proxy that needed it', async () => {
    const fleet = SANDBOX_FLEET;
    const needing = fleet.filter((proxy) => proxy.version !== SAMPLE_LATEST_VERSION).map((p) => p.proxyId);

    const started = await runSend(['events/rollout.json']);

    expect(started.code).toBe(0);
    expect(started.err).toContain('-> POST http://127.0.0.1:');
    expect(started.err).toContain('/rollouts\n');
    expect(started.answer).toMatchObject({ rollout_id: ROLLOUT_ID, replayed: false });

    let approvals = 0;
    const approvalsAnswered: unknown[] = [];
    // Bounded: 600 rounds of 100 ms; the rollout ends long before on an idle machine.
    for (let round = 0; round < 600 && count('Proxy Rollout Completed') === 0; round += 1) {
      if (count('Proxy Rollout Awaiting Approval') > approvals) {
        // Held at the gate: no upgrade of the next wave before the approval.
        const postsAtGate = upgradePosts().length;
        await sleep(300);
        expect(upgradePosts().length).toBe(postsAtGate);
        const approved = await runSend(['--approve', ROLLOUT_ID]);
        expect(approved.code).toBe(0);
        approvalsAnswered.push(approved.answer.rollout_id);
        approvals += 1;
      }
      await sleep(100);
    }

    expect(count('Proxy Rollout Completed')).toBe(1);
    // Waves of 1, then 10 % (3), then the rest: a gate after each but the last.
    expect(approvals).toBe(2);
    expect(approvalsAnswered).toEqual([ROLLOUT_ID, ROLLOUT_ID]);
    expect(count('Proxy Rollout Wave Started')).toBe(3);
    const posts = upgradePosts();
    expect(posts.toSorted()).toEqual(needing.toSorted());
    expect(new Set(posts).size).toBe(posts.length);
    // One end event per upgrade: the tracker left the rollout's upgrades to the tick.
    expect(count('Proxy Upgrade Completed')).toBe(needing.length);
    const versions = new Map(sandbox.taurusDb.proxies().map((proxy) => [proxy.proxyId, proxy.version]));
    for (const proxy of fleet) expect(versions.get(proxy.proxyId), proxy.proxyId).toBe(SAMPLE_LATEST_VERSION);

    const status = await runSend(['--status', ROLLOUT_ID]);
    expect(status.code).toBe(0);
    expect(status.answer).toMatchObject({ rollout_id: ROLLOUT_ID, status: 'completed' });
    // The console shows the execution and the events as JSON lines on stdout.
    expect(sandboxOut.text()).toContain(`{"execution":{"name":"${ROLLOUT_ID}-g0","status":"SUCCEEDED"}}`);
    expect(sandboxOut.text()).toContain('"DetailType":"Proxy Rollout Completed"');
  }, 120_000);

  it('refuses a control call for an unknown rollout with 404, naming it', async () => {
    const answer = await runSend(['--approve', 'no-such-rollout']);

    expect(answer.code).toBe(1);
    expect(JSON.stringify(answer.answer)).toContain('no-such-rollout');
  });
});
