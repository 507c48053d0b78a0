import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completedDetailSchema } from '../../lib/events/contract.ts';
import { SAMPLE_LATEST_VERSION } from '../../sandbox/sample-proxies.ts';
import { main as send } from '../../sandbox/send.ts';
import { type Sandbox, startSandbox } from '../../sandbox/start.ts';
import { printed } from '../support/printed-lines.ts';

/**
 * `npm start` with the tracker, in this process: an upgrade from the request to `Proxy Upgrade
 * Completed`, the re-checks travelling through the local delay queue. Delays are shortened to a
 * second so the whole life takes a few seconds; the waits end on the printed lines, not on a clock.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const out = printed();
const notes = printed();
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({
    port: 0,
    out: out.stream,
    log: notes.stream,
    tracking: true,
    upgradeDurationMs: 1_500,
    env: {
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      TRACKING_INITIAL_DELAY_SECONDS: '1',
      TRACKING_MAX_DELAY_SECONDS: '1',
    },
  });
});
afterAll(async () => {
  await sandbox?.stop();
});

describe('npm start + npm run send, with the tracker', () => {
  it('shows an upgrade from the request to Proxy Upgrade Completed', async () => {
    const code = await send(['events/http-api-v2.json', '--url', sandbox.upgradesUrl], {
      out: printed().stream,
      err: printed().stream,
      env: {},
      cwd: ROOT,
    });
    expect(code).toBe(0);

    const accepted = await out.published('Proxy Upgrade Accepted');
    const completed = await out.published('Proxy Upgrade Completed');

    const workflowId = accepted.Detail.result.workflow_id;
    expect(completedDetailSchema.parse(completed.Detail)).toMatchObject({
      workflow_id: workflowId,
      request: accepted.Detail.request,
      job: { status: 'Completed' },
    });
    // The workflow was Running when the tracker first looked: it queued re-checks, each delayed.
    const queued = out.lines('queued');
    expect(queued.length).toBeGreaterThan(0);
    for (const message of queued) {
      expect(message).toMatchObject({ workflow_id: workflowId, delay_seconds: 1 });
    }
    expect(queued.map((message) => message.attempt)).toEqual(queued.map((_, index) => index + 1));
    const request = accepted.Detail.request;
    expect(sandbox.taurusDb.versionOf(request.project_id, request.instance_id, request.proxy_id)).toBe(
      SAMPLE_LATEST_VERSION,
    );
    expect(sandbox.events.map((event) => event.DetailType)).toEqual([
      'Proxy Upgrade Accepted',
      'Proxy Upgrade Completed',
    ]);
    expect(notes.text()).toContain('functions/track.ts checks each accepted workflow');
    expect(notes.text()).not.toContain('sandbox: tracking');
  });
});
