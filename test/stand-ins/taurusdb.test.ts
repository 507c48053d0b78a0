import { afterEach, describe, expect, it } from 'vitest';
import {
  type ProxySeed,
  replies,
  startTaurusDbStandIn,
  type TaurusDbExchange,
  type TaurusDbStandIn,
  type TaurusDbStandInOptions,
} from '../../stand-ins/taurusdb.ts';

/**
 * The TaurusDB stand-in as the sandbox configures it: a closed world of two proxies one version
 * behind the latest, project-scoped tokens, and upgrades that run as workflows. Then the open world
 * the tests script, and how scripts and the world combine.
 */

const GOOD_TOKEN = 'MIIT-sandbox-test-token';
const SAMPLE_PROJECT_ID = '054e292c9880d4992f02c0196d3ea468';
const SAMPLE_LATEST_VERSION = '2.24.03.000';
const PREVIOUS = '2.23.12.000';
const SAMPLE_PROXIES: ProxySeed[] = [
  {
    projectId: SAMPLE_PROJECT_ID,
    instanceId: '517ea793ab91438cbfcd9c4b1c958b1ein07',
    proxyId: '0f46fc46396e4fb19a0cb52f578e9511po01',
    version: PREVIOUS,
  },
  {
    projectId: SAMPLE_PROJECT_ID,
    instanceId: '8a1b2c3d4e5f40718293a4b5c6d7e8f9in07',
    proxyId: 'c0ffee00112233445566778899aabbccpo01',
    version: PREVIOUS,
  },
];
const [first, second] = SAMPLE_PROXIES as [ProxySeed, ProxySeed];

let sandbox: TaurusDbStandIn | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

/** The sandbox's world; `workflows` adds to its options (duration 0 unless given). */
async function start(options: TaurusDbStandInOptions = {}): Promise<TaurusDbStandIn> {
  sandbox = await startTaurusDbStandIn({
    isAccepted: (token, projectId) => token === GOOD_TOKEN && projectId === SAMPLE_PROJECT_ID,
    proxies: SAMPLE_PROXIES,
    latestVersion: SAMPLE_LATEST_VERSION,
    ...options,
    workflows: { durationMs: 0, ...options.workflows },
  });
  return sandbox;
}

const pathOf = (proxy: ProxySeed, tail: string) =>
  `/v3/${proxy.projectId}/instances/${proxy.instanceId}/proxy/${proxy.proxyId}/${tail}`;

async function call(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: { 'x-auth-token': GOOD_TOKEN, ...init.headers },
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function upgrade(
  target: TaurusDbStandIn,
  proxy: ProxySeed,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return call(`${target.url}${pathOf(proxy, 'upgrade-version')}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
}

const toLatest = { source_version: PREVIOUS, target_version: SAMPLE_LATEST_VERSION };

describe("TaurusDB stand-in, the sandbox's world: POST .../upgrade-version", () => {
  it('accepts a valid upgrade in the seed shape and moves the proxy to the target version', async () => {
    const taurusDb = await start();

    const { status, body } = await upgrade(taurusDb, first, toLatest);

    expect(status).toBe(200);
    expect(body).toEqual({
      update_result: [
        {
          instance_id: first.instanceId,
          workflow_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          state: 'ACCEPT',
          error_message: null,
        },
      ],
    });
    const version = await call(`${taurusDb.url}${pathOf(first, 'taurusproxy/proxy-version')}`);
    expect(version).toEqual({
      status: 200,
      body: {
        current_version: SAMPLE_LATEST_VERSION,
        latest_version: SAMPLE_LATEST_VERSION,
        can_upgrade: false,
      },
    });
    // The other proxy is untouched.
    expect(taurusDb.versionOf(second.projectId, second.instanceId, second.proxyId)).toBe(PREVIOUS);
    const workflowId = (body.update_result as Array<{ workflow_id: string }>)[0]?.workflow_id;
    const job = await call(`${taurusDb.url}/v3/${SAMPLE_PROJECT_ID}/jobs?id=${workflowId}`);
    expect(job.status).toBe(200);
    expect(job.body.job).toMatchObject({
      id: workflowId,
      status: 'Completed',
      instance: { id: first.instanceId },
      entities: { proxy_id: first.proxyId, source_version: PREVIOUS, target_version: SAMPLE_LATEST_VERSION },
      created: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0000$/),
    });
  });

  it('rejects (200, state REJECT) a source version that is not the current one, and moves nothing', async () => {
    const taurusDb = await start();

    const { status, body } = await upgrade(taurusDb, first, {
      source_version: '2.22.07.000',
      target_version: SAMPLE_LATEST_VERSION,
    });

    expect(status).toBe(200);
    const [item] = body.update_result as Array<Record<string, unknown>>;
    expect(item).toMatchObject({ instance_id: first.instanceId, state: 'REJECT' });
    expect(item?.error_message).toContain('does not match the current version 2.23.12.000');
    expect(taurusDb.versionOf(first.projectId, first.instanceId, first.proxyId)).toBe(PREVIOUS);
    expect(taurusDb.job(item?.workflow_id as string)).toMatchObject({
      status: 'Failed',
      failReason: item?.error_message,
    });
  });

  it('rejects a target that is not newer than the source', async () => {
    const taurusDb = await start();

    const { status, body } = await upgrade(taurusDb, first, {
      source_version: PREVIOUS,
      target_version: PREVIOUS,
    });

    expect(status).toBe(200);
    const [item] = body.update_result as Array<Record<string, unknown>>;
    expect(item?.state).toBe('REJECT');
    expect(item?.error_message).toContain('must be newer than the source version');
    expect(taurusDb.versionOf(first.projectId, first.instanceId, first.proxyId)).toBe(PREVIOUS);
  });

  it('rejects a target newer than the latest version', async () => {
    const taurusDb = await start();

    const { body } = await upgrade(taurusDb, first, {
      source_version: PREVIOUS,
      target_version: '2.99.01.000',
    });

    const [item] = body.update_result as Array<Record<string, unknown>>;
    expect(item?.state).toBe('REJECT');
    expect(item?.error_message).toContain(`the latest version is ${SAMPLE_LATEST_VERSION}`);
  });

  it('answers 400 DBS.05000008 once the proxy runs the latest version', async () => {
    const taurusDb = await start();
    expect((await upgrade(taurusDb, first, toLatest)).status).toBe(200);

    const again = await upgrade(taurusDb, first, toLatest);

    expect(again).toEqual({
      status: 400,
      body: { error_code: 'DBS.05000008', error_msg: 'the current version is the latest' },
    });
  });

  it('answers 401 APIGW.0301 to a bad, missing or other-project token, before looking at the request', async () => {
    const taurusDb = await start();

    const bad = await upgrade(taurusDb, first, toLatest, { 'x-auth-token': 'MIIT-forged' });
    const missing = await fetch(`${taurusDb.url}${pathOf(first, 'upgrade-version')}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(toLatest),
    });
    const otherProject = await call(
      `${taurusDb.url}/v3/0000000000000000000000000000000a/instances/${first.instanceId}/proxy/${first.proxyId}/upgrade-version`,
      { method: 'POST', body: JSON.stringify(toLatest), headers: { 'content-type': 'application/json' } },
    );

    expect([bad.status, missing.status, otherProject.status]).toEqual([401, 401, 401]);
    expect(bad.body).toMatchObject({ error_code: 'APIGW.0301' });
    expect(await missing.json()).toMatchObject({ error_code: 'APIGW.0301' });
    expect(otherProject.body).toMatchObject({ error_code: 'APIGW.0301' });
    expect(taurusDb.versionOf(first.projectId, first.instanceId, first.proxyId)).toBe(PREVIOUS);
  });

  it('answers 400 DBS.200001 to a body that is not exactly {source_version, target_version} or not JSON', async () => {
    const taurusDb = await start();

    const extraKey = await upgrade(taurusDb, first, { ...toLatest, force: true });
    const missingKey = await upgrade(taurusDb, first, { source_version: PREVIOUS });
    const notAVersion = await upgrade(taurusDb, first, {
      source_version: PREVIOUS,
      target_version: 'latest',
    });
    const textPlain = await upgrade(taurusDb, first, toLatest, { 'content-type': 'text/plain' });
    const badLanguage = await upgrade(taurusDb, first, toLatest, { 'x-language': 'fr-fr' });
    const notJson = await upgrade(taurusDb, first, '{"source_version":');

    for (const answer of [extraKey, missingKey, notAVersion, textPlain, badLanguage, notJson]) {
      expect(answer.status).toBe(400);
      expect(answer.body.error_code).toBe('DBS.200001');
    }
    expect(textPlain.body.error_msg).toContain('Content-Type');
    expect(taurusDb.versionOf(first.projectId, first.instanceId, first.proxyId)).toBe(PREVIOUS);
  });

  it('accepts X-Language zh-cn and a Content-Type with a charset', async () => {
    const taurusDb = await start();

    const { body } = await upgrade(taurusDb, first, toLatest, {
      'x-language': 'zh-cn',
      'content-type': 'application/json;charset=utf-8',
    });

    expect((body.update_result as Array<{ state: string }>)[0]?.state).toBe('ACCEPT');
  });

  it('answers 404 DBS.200002 for an unknown proxy or instance, and APIGW.0101 for an unknown API', async () => {
    const taurusDb = await start();

    const unknownProxy = await upgrade(
      taurusDb,
      { ...first, proxyId: 'ffffffffffffffffffffffffffffffffpo01' },
      toLatest,
    );
    const unknownInstance = await upgrade(
      taurusDb,
      { ...first, instanceId: 'ffffffffffffffffffffffffffffffffin07' },
      toLatest,
    );
    const unknownApi = await call(`${taurusDb.url}/v3/${SAMPLE_PROJECT_ID}/instances`);

    expect(unknownProxy).toEqual({
      status: 404,
      body: { error_code: 'DBS.200002', error_msg: 'The proxy instance does not exist.' },
    });
    expect(unknownInstance).toEqual({
      status: 404,
      body: { error_code: 'DBS.200002', error_msg: 'The DB instance does not exist.' },
    });
    expect(unknownApi.status).toBe(404);
    expect(unknownApi.body.error_code).toBe('APIGW.0101');
  });

  it('reports each answered call to onExchange without the token', async () => {
    const seen: TaurusDbExchange[] = [];
    const taurusDb = await start({ onExchange: (exchange) => seen.push(exchange) });

    await upgrade(taurusDb, first, toLatest);

    expect(seen).toEqual([
      {
        method: 'POST',
        path: pathOf(first, 'upgrade-version'),
        status: 200,
        answer: { update_result: [expect.objectContaining({ state: 'ACCEPT' })] },
      },
    ]);
    expect(JSON.stringify(seen)).not.toContain(GOOD_TOKEN);
  });
});

describe("TaurusDB stand-in, the sandbox's world: upgrade workflows that take time", () => {
  it('keeps the job Running and the version unchanged until the workflow has run, and refuses a second upgrade meanwhile', async () => {
    let clock = Date.parse('2026-11-27T10:00:00Z');
    const taurusDb = await start({ workflows: { durationMs: 60_000 }, now: () => clock });

    const accepted = await upgrade(taurusDb, first, toLatest);
    const workflowId = (accepted.body.update_result as Array<{ workflow_id: string }>)[0]
      ?.workflow_id as string;
    const running = await call(`${taurusDb.url}/v3/${SAMPLE_PROJECT_ID}/jobs?id=${workflowId}`);
    const during = await upgrade(taurusDb, first, toLatest);
    const versionDuring = await call(`${taurusDb.url}${pathOf(first, 'taurusproxy/proxy-version')}`);

    expect(running.body.job).toMatchObject({ status: 'Running', ended: '' });
    expect((during.body.update_result as Array<Record<string, unknown>>)[0]).toMatchObject({
      state: 'REJECT',
      error_message: expect.stringContaining(`being upgraded by workflow ${workflowId}`),
    });
    expect(versionDuring.body).toEqual({
      current_version: PREVIOUS,
      latest_version: SAMPLE_LATEST_VERSION,
      can_upgrade: false,
    });

    clock += 60_000;
    const completed = await call(`${taurusDb.url}/v3/${SAMPLE_PROJECT_ID}/jobs?id=${workflowId}`);
    expect(completed.body.job).toMatchObject({ status: 'Completed', ended: '2026-11-27T10:01:00+0000' });
    expect(taurusDb.versionOf(first.projectId, first.instanceId, first.proxyId)).toBe(SAMPLE_LATEST_VERSION);
  });
});

describe("TaurusDB stand-in, the sandbox's world: upgrade workflows that fail", () => {
  it('ends an accepted workflow Failed with the configured reason once it has run, the version unchanged', async () => {
    let clock = Date.parse('2026-11-27T10:00:00Z');
    const taurusDb = await start({
      workflows: {
        durationMs: 30_000,
        failReason: 'Failed to upgrade the proxy kernel: the proxy node is abnormal.',
      },
      now: () => clock,
    });

    const accepted = await upgrade(taurusDb, first, toLatest);
    const item = (accepted.body.update_result as Array<{ workflow_id: string; state: string }>)[0];
    expect(item?.state).toBe('ACCEPT');
    const jobUrl = `${taurusDb.url}/v3/${SAMPLE_PROJECT_ID}/jobs?id=${item?.workflow_id}`;
    expect((await call(jobUrl)).body.job).toMatchObject({ status: 'Running', fail_reason: '' });

    clock += 30_000;
    expect((await call(jobUrl)).body.job).toMatchObject({
      status: 'Failed',
      ended: '2026-11-27T10:00:30+0000',
      fail_reason: 'Failed to upgrade the proxy kernel: the proxy node is abnormal.',
    });
    expect(taurusDb.versionOf(first.projectId, first.instanceId, first.proxyId)).toBe(PREVIOUS);
    // Nothing runs any more: the same upgrade is accepted again.
    const again = await upgrade(taurusDb, first, toLatest);
    expect((again.body.update_result as Array<{ state: string }>)[0]?.state).toBe('ACCEPT');
  });
});

describe("TaurusDB stand-in, the sandbox's world: related GETs", () => {
  it('lists the proxies of an instance with offset and limit', async () => {
    const taurusDb = await start();

    const list = await call(
      `${taurusDb.url}/v3/${SAMPLE_PROJECT_ID}/instances/${second.instanceId}/proxies?offset=0&limit=10`,
    );

    expect(list).toEqual({
      status: 200,
      body: {
        proxy_list: [{ proxy: expect.objectContaining({ pool_id: second.proxyId, status: 'ACTIVE' }) }],
        total_count: 1,
      },
    });
  });

  it('answers 404 for a job id it never issued', async () => {
    const taurusDb = await start();

    const job = await call(
      `${taurusDb.url}/v3/${SAMPLE_PROJECT_ID}/jobs?id=0c5c0c5c-0000-4000-8000-000000000000`,
    );

    expect(job.status).toBe(404);
    expect(job.body.error_code).toBe('DBS.200823');
  });
});

describe('TaurusDB stand-in, the open world the tests script', () => {
  async function open(options: TaurusDbStandInOptions = {}): Promise<TaurusDbStandIn> {
    sandbox = await startTaurusDbStandIn({ acceptedTokens: [GOOD_TOKEN], ...options });
    return sandbox;
  }

  it('has every proxy at 2.23.12.000 with 2.24.03.000 the latest, and lists nothing for an instance it was not given', async () => {
    const taurusDb = await open();

    const version = await call(
      `${taurusDb.url}/v3/any-project/instances/any-in07/proxy/any-po01/taurusproxy/proxy-version`,
    );
    const list = await call(`${taurusDb.url}/v3/any-project/instances/any-in07/proxies`);

    expect(version).toEqual({
      status: 200,
      body: { current_version: PREVIOUS, latest_version: SAMPLE_LATEST_VERSION, can_upgrade: true },
    });
    expect(list).toEqual({ status: 200, body: { proxy_list: [], total_count: 0 } });
    expect(taurusDb.proxies()).toEqual([]);
  });

  it("answers a well-formed upgrade with the API reference's example ACCEPT and moves nothing", async () => {
    const taurusDb = await open();

    const answer = await upgrade(taurusDb, first, { source_version: '2.0', target_version: '9.9.9' });
    const version = await call(`${taurusDb.url}${pathOf(first, 'taurusproxy/proxy-version')}`);

    expect(answer).toEqual({ status: 200, body: replies.accept().body });
    expect(version.body.current_version).toBe(PREVIOUS);
    expect(taurusDb.upgrades).toMatchObject([
      { proxyId: first.proxyId, token: GOOD_TOKEN, sourceVersion: '2.0' },
    ]);
  });

  it('with workflows on, makes a proxy it has not met at the default version and moves it', async () => {
    const taurusDb = await open({ workflows: {} });

    const answer = await upgrade(taurusDb, first, toLatest);

    expect((answer.body.update_result as Array<{ state: string }>)[0]?.state).toBe('ACCEPT');
    expect(taurusDb.versionOf(first.projectId, first.instanceId, first.proxyId)).toBe(SAMPLE_LATEST_VERSION);
  });
});

describe('TaurusDB stand-in: scripts over the world', () => {
  it("a scripted upgrade answer wins over the world's, and the world does not move", async () => {
    const taurusDb = await start();
    taurusDb.script(replies.reject('scripted'));

    const answer = await upgrade(taurusDb, first, toLatest);

    expect((answer.body.update_result as Array<Record<string, unknown>>)[0]).toMatchObject({
      state: 'REJECT',
      error_message: 'scripted',
    });
    expect(taurusDb.versionOf(first.projectId, first.instanceId, first.proxyId)).toBe(PREVIOUS);
  });

  it("setJob and setProxyVersion override what a workflow and a proxy's state would answer", async () => {
    const taurusDb = await start();
    const accepted = await upgrade(taurusDb, first, toLatest);
    const workflowId = (accepted.body.update_result as Array<{ workflow_id: string }>)[0]?.workflow_id;
    taurusDb.setJob(
      workflowId as string,
      { status: 'Running' },
      { status: 'Failed', fail_reason: 'scripted' },
    );
    taurusDb.setProxyVersion(first.instanceId, first.proxyId, {
      current_version: PREVIOUS,
      latest_version: '2.24.09.000',
      can_upgrade: true,
    });

    const jobUrl = `${taurusDb.url}/v3/${SAMPLE_PROJECT_ID}/jobs?id=${workflowId}`;
    const reads = [await call(jobUrl), await call(jobUrl), await call(jobUrl)];
    const version = await call(`${taurusDb.url}${pathOf(first, 'taurusproxy/proxy-version')}`);

    expect(reads.map((read) => (read.body.job as { status: string }).status)).toEqual([
      'Running',
      'Failed',
      'Failed',
    ]);
    expect(version.body).toEqual({
      current_version: PREVIOUS,
      latest_version: '2.24.09.000',
      can_upgrade: true,
    });
  });
});

describe('TaurusDB stand-in: busy instances, instance detail and the advisory (issue 14)', () => {
  it('refuses upgrades as busy (409 DBS.201205) until busyUntil, then upgrades', async () => {
    let now = Date.now();
    const taurusDb = await start({ now: () => now, busyUntil: now + 20_000 });

    const busy = await upgrade(taurusDb, first, toLatest);
    expect(busy).toEqual({
      status: 409,
      body: { error_code: 'DBS.201205', error_msg: 'The instance is being backed up. Try again later.' },
    });
    expect(taurusDb.versionOf(first.projectId, first.instanceId, first.proxyId)).toBe(PREVIOUS);
    now += 20_000;
    expect((await upgrade(taurusDb, first, toLatest)).status).toBe(200);
  });

  it('answers instance detail: ACTIVE with an 18:00-22:00 window, or what a test sets', async () => {
    const taurusDb = await start();
    const url = `${taurusDb.url}/v3/${first.projectId}/instances/${first.instanceId}`;

    expect((await call(url)).body.instance).toMatchObject({
      id: first.instanceId,
      status: 'ACTIVE',
      maintenance_window: '18:00-22:00',
    });
    taurusDb.setInstance(first.instanceId, { status: 'BACKING UP', maintenance_window: '22:00-02:00' });
    expect((await call(url)).body.instance).toMatchObject({
      status: 'BACKING UP',
      maintenance_window: '22:00-02:00',
    });
    expect(taurusDb.reads('instance')).toBe(2);
  });

  it('carries the risk advisory in the version answer when one is set', async () => {
    const taurusDb = await startTaurusDbStandIn({ acceptedTokens: [GOOD_TOKEN] });
    sandbox = taurusDb;
    const risk = { level: 1, suggest: 'Fixes a leak.', upgrade_duration: '15' };
    taurusDb.setProxyVersion(first.instanceId, first.proxyId, {
      current_version: PREVIOUS,
      latest_version: SAMPLE_LATEST_VERSION,
      can_upgrade: true,
      risk,
    });
    const version = await call(`${taurusDb.url}${pathOf(first, 'taurusproxy/proxy-version')}`);
    expect(version.body).toEqual({
      current_version: PREVIOUS,
      latest_version: SAMPLE_LATEST_VERSION,
      can_upgrade: true,
      risk,
    });
  });
});

describe('TaurusDB stand-in, a fleet: one operation per instance, and a share of workflows failing (issue 18)', () => {
  const sibling: ProxySeed = { ...first, proxyId: 'aa11bb22cc33dd44ee55ff6677889900po01' };
  const jobOf = (answer: { body: Record<string, unknown> }) =>
    (answer.body.update_result as Array<{ workflow_id: string }>)[0]?.workflow_id as string;

  it("refuses another proxy of an instance busy (409 DBS.201205) while one's workflow runs, counting it as the callers' own", async () => {
    let clock = Date.parse('2026-11-27T10:00:00Z');
    const taurusDb = await start({
      proxies: [...SAMPLE_PROXIES, sibling],
      workflows: { durationMs: 600_000 },
      now: () => clock,
    });

    expect((await upgrade(taurusDb, first, toLatest)).status).toBe(200);
    const refused = await upgrade(taurusDb, sibling, toLatest);
    // Another instance is not affected.
    const elsewhere = await upgrade(taurusDb, second, toLatest);

    expect(refused).toEqual({
      status: 409,
      body: { error_code: 'DBS.201205', error_msg: 'The instance is being backed up. Try again later.' },
    });
    expect(elsewhere.status).toBe(200);
    expect(taurusDb.concurrencyRefusals()).toBe(1);
    expect(taurusDb.versionOf(sibling.projectId, sibling.instanceId, sibling.proxyId)).toBe(PREVIOUS);

    clock += 599_999;
    expect((await upgrade(taurusDb, sibling, toLatest)).status).toBe(409);
    clock += 1;
    const after = await upgrade(taurusDb, sibling, toLatest);
    expect((after.body.update_result as Array<{ state: string }>)[0]?.state).toBe('ACCEPT');
    expect(taurusDb.concurrencyRefusals()).toBe(2);
  });

  it("does not count busyUntil (somebody else's operation) as the callers' own", async () => {
    const now = Date.now();
    const taurusDb = await start({ now: () => now, busyUntil: now + 20_000 });
    expect((await upgrade(taurusDb, first, toLatest)).status).toBe(409);
    expect(taurusDb.concurrencyRefusals()).toBe(0);
  });

  it('ends the configured share of workflows Failed, drawn from the seed per proxy: the same ones whatever the order', async () => {
    const clock = { now: Date.parse('2026-11-27T10:00:00Z') };
    const fleet: ProxySeed[] = Array.from({ length: 200 }, (_, index) => ({
      projectId: SAMPLE_PROJECT_ID,
      instanceId: `instance${index}`,
      proxyId: `proxy${index}`,
      version: PREVIOUS,
    }));
    const failedOf = async (order: ProxySeed[], seed: number) => {
      const taurusDb = await startTaurusDbStandIn({
        isAccepted: (token) => token === GOOD_TOKEN,
        proxies: fleet,
        workflows: { durationMs: 60_000, failShare: 0.1, seed },
        now: () => clock.now,
      });
      const started = clock.now;
      const jobs = new Map<string, string>();
      for (const proxy of order) jobs.set(proxy.proxyId, jobOf(await upgrade(taurusDb, proxy, toLatest)));
      const running = await call(
        `${taurusDb.url}/v3/${SAMPLE_PROJECT_ID}/jobs?id=${jobs.get('proxy0') as string}`,
      );
      clock.now += 60_000;
      const failed: string[] = [];
      for (const [proxyId, job] of jobs) {
        const { body } = await call(`${taurusDb.url}/v3/${SAMPLE_PROJECT_ID}/jobs?id=${job}`);
        const answer = body.job as { status: string; fail_reason: string };
        expect(['Completed', 'Failed']).toContain(answer.status);
        if (answer.status === 'Failed') {
          failed.push(proxyId);
          expect(answer.fail_reason).toBe('Failed to upgrade the proxy kernel: the proxy node is abnormal.');
        }
        const instance = fleet.find((proxy) => proxy.proxyId === proxyId) as ProxySeed;
        expect(taurusDb.versionOf(instance.projectId, instance.instanceId, proxyId)).toBe(
          answer.status === 'Failed' ? PREVIOUS : SAMPLE_LATEST_VERSION,
        );
      }
      await taurusDb.close();
      clock.now = started;
      return { failed: failed.sort(), running: running.body.job };
    };

    const forwards = await failedOf(fleet, 7);
    const backwards = await failedOf([...fleet].reverse(), 7);
    const otherSeed = await failedOf(fleet, 8);

    // A running workflow does not tell its future.
    expect(forwards.running).toMatchObject({ status: 'Running', fail_reason: '' });
    // About 10 % of 200 (a binomial draw: 20 expected, well inside 5 to 40).
    expect(forwards.failed.length).toBeGreaterThan(5);
    expect(forwards.failed.length).toBeLessThan(40);
    expect(backwards.failed).toEqual(forwards.failed);
    expect(otherSeed.failed).not.toEqual(forwards.failed);
  });
});
