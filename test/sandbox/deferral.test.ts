import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main as send } from '../../sandbox/send.ts';
import { type Sandbox, sandboxOptionsFromEnv, startSandbox } from '../../sandbox/start.ts';
import { printed } from '../support/printed-lines.ts';

/**
 * `SANDBOX_BUSY_FOR`: the sandbox's TaurusDB is busy for a while, the upgrade is deferred to the local
 * EventBridge Scheduler, which fires the attempt into the handler when it is due, and the proxy is
 * upgraded. The first deferred attempt waits BUSY_RETRY_DELAY_SECONDS (10 s, its minimum); the wait
 * ends on the printed line, not on a clock.
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
    ...sandboxOptionsFromEnv({ SANDBOX_BUSY_FOR: '3' }),
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
  });
});
afterAll(async () => {
  await sandbox?.stop();
});

describe('npm start with SANDBOX_BUSY_FOR', () => {
  it('shows a busy instance deferred, then upgraded by the scheduled attempt', async () => {
    const code = await send(['events/http-api-v2.json', '--url', sandbox.upgradesUrl], {
      out: printed().stream,
      err: printed().stream,
      env: {},
      cwd: ROOT,
    });
    expect(code).toBe(0);

    const deferred = await out.published('Proxy Upgrade Deferred');
    expect(deferred.Detail).toMatchObject({ next_attempt: 2, error: { error_code: 'DBS.201205' } });
    expect(out.lines('scheduled')).toMatchObject([{ name: deferred.Detail.schedule_name, attempt: 2 }]);

    const accepted = await out.published('Proxy Upgrade Accepted');
    expect(out.lines('fired')).toMatchObject([{ name: deferred.Detail.schedule_name }]);
    expect(accepted.Detail.trigger).toMatchObject({
      kind: 'http',
      id: deferred.Detail.trigger.id,
      attempt: 2,
    });
    expect(notes.text()).toContain('every instance busy for the first 3 s');
    expect(notes.text()).not.toContain('failed');
  }, 60_000);
});
