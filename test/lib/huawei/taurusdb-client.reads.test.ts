import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../../lib/errors.ts';
import type { RequestAuthenticator } from '../../../lib/huawei/auth/request-authenticator.ts';
import { createTaurusDbClient } from '../../../lib/huawei/taurusdb-client.ts';
import { replies, startTaurusDbStandIn, type TaurusDbStandIn } from '../../../stand-ins/taurusdb.ts';

const TOKEN = 'MIIT-reads-token-0001';
const PROJECT = '054e292c9880d4992f02c0196d3ea468';
const INSTANCE = '517ea793ab91438cbfcd9c4b1c958b1ein07';
const PROXY = '0f46fc46396e4fb19a0cb52f578e9511po01';

const authenticator: RequestAuthenticator = {
  headersFor: async () => ({ 'x-auth-token': TOKEN }),
  invalidate: () => undefined,
};

describe('the TaurusDB read APIs (version, proxy list, job)', () => {
  let taurusDb: TaurusDbStandIn;
  const waits: number[] = [];

  beforeEach(async () => {
    taurusDb = await startTaurusDbStandIn({ acceptedTokens: [TOKEN] });
    waits.length = 0;
  });
  afterEach(() => taurusDb.close());

  const client = () =>
    createTaurusDbClient({
      endpoint: taurusDb.url,
      authenticator,
      random: () => 0.5,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });

  it('reads a proxy version with a GET on the documented path, no body, no content type', async () => {
    taurusDb.setProxyVersion(INSTANCE, PROXY, {
      current_version: '2.24.03.000',
      latest_version: '2.24.09.000',
      can_upgrade: true,
    });
    const version = await client().getProxyVersion({
      projectId: PROJECT,
      instanceId: INSTANCE,
      proxyId: PROXY,
    });
    expect(version).toEqual({
      current_version: '2.24.03.000',
      latest_version: '2.24.09.000',
      can_upgrade: true,
    });
    const [wire] = taurusDb.requests;
    expect(wire?.method).toBe('GET');
    expect(wire?.url).toBe(`/v3/${PROJECT}/instances/${INSTANCE}/proxy/${PROXY}/taurusproxy/proxy-version`);
    expect(wire?.headers['x-auth-token']).toBe(TOKEN);
    expect(wire?.headers['content-type']).toBeUndefined();
    expect(wire?.body).toBe('');
  });

  it('retries a read after a 5xx and after a reset, since a read changes nothing', async () => {
    taurusDb.scriptRead(replies.serverError(), replies.reset());
    const version = await client().getProxyVersion({
      projectId: PROJECT,
      instanceId: INSTANCE,
      proxyId: PROXY,
    });
    expect(version.current_version).toBe('2.23.12.000');
    expect(taurusDb.reads('version')).toBe(3);
    expect(waits).toHaveLength(2);
  });

  it('refuses a version answer of another shape, naming the field', async () => {
    taurusDb.scriptRead({ body: { current_version: '2.23.12.000', can_upgrade: 'yes' } });
    const error = await client()
      .getProxyVersion({ projectId: PROJECT, instanceId: INSTANCE, proxyId: PROXY })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toMatch(
      /^TaurusDB answered 200 with a body that is not the proxy version \(latest_version: /,
    );
  });

  it('lists every proxy of an instance across pages of 100', async () => {
    const ids = Array.from({ length: 230 }, (_, index) => `proxy-${String(index).padStart(3, '0')}`);
    taurusDb.setProxies(INSTANCE, ids);
    const proxies = await client().listProxies({ projectId: PROJECT, instanceId: INSTANCE });
    expect(proxies.map((proxy) => proxy.proxyId)).toEqual(ids);
    expect(taurusDb.requests.map((request) => request.url)).toEqual([
      `/v3/${PROJECT}/instances/${INSTANCE}/proxies?offset=0&limit=100`,
      `/v3/${PROJECT}/instances/${INSTANCE}/proxies?offset=100&limit=100`,
      `/v3/${PROJECT}/instances/${INSTANCE}/proxies?offset=200&limit=100`,
    ]);
  });

  it('lists an instance without proxies as empty, in one request', async () => {
    expect(await client().listProxies({ projectId: PROJECT, instanceId: INSTANCE })).toEqual([]);
    expect(taurusDb.reads('proxies')).toBe(1);
  });

  it('reads a job, and reports a job not visible yet as undefined rather than an error', async () => {
    taurusDb.setJob('wf-1', undefined, { status: 'Running' }, { status: 'Failed', fail_reason: 'disk full' });
    const jobs = client();
    expect(await jobs.getJob(PROJECT, 'wf-1')).toBeUndefined();
    expect(await jobs.getJob(PROJECT, 'wf-1')).toMatchObject({
      id: 'wf-1',
      status: 'Running',
      fail_reason: null,
    });
    expect(await jobs.getJob(PROJECT, 'wf-1')).toMatchObject({ status: 'Failed', fail_reason: 'disk full' });
    expect(taurusDb.requests.at(-1)?.url).toBe(`/v3/${PROJECT}/jobs?id=wf-1`);
  });

  it('still fails a job read on errors other than "not found"', async () => {
    taurusDb.scriptRead(replies.error(403, 'APIGW.0302', 'not authorized'));
    await expect(client().getJob(PROJECT, 'wf-2')).rejects.toMatchObject({
      status: 403,
      errorCode: 'APIGW.0302',
    });
  });

  it("scrubs a job's fail_reason of the token sent", async () => {
    taurusDb.setJob('wf-3', { status: 'Failed', fail_reason: `token ${TOKEN.slice(2)} expired` });
    expect(await client().getJob(PROJECT, 'wf-3')).toMatchObject({ fail_reason: 'token [redacted] expired' });
  });
});
