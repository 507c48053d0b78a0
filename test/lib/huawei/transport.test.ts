import { afterEach, describe, expect, it } from 'vitest';
import { createIamClient } from '../../../lib/huawei/iam-client.ts';
import { createTaurusDbClient } from '../../../lib/huawei/taurusdb-client.ts';
import {
  type ConnectionPools,
  createConnectionPools,
  send,
  socketErrorName,
  type WireRequest,
} from '../../../lib/huawei/transport.ts';
import { startIamStandIn } from '../../../stand-ins/iam.ts';
import { type LoopbackServer, sendJson, startLoopbackServer } from '../../../stand-ins/loopback-server.ts';
import {
  closedPort,
  type ResettingServer,
  startResettingServer,
  startTaurusDbStandIn,
} from '../../../stand-ins/taurusdb.ts';
import { CALL, fakeAuthenticator } from './taurusdb-fakes.ts';

const settings = { connectMs: 1_000, headersMs: 1_000, bodyMs: 1_000 };

function wire(origin: string, overrides: Partial<WireRequest> = {}): WireRequest {
  return {
    origin,
    path: '/v3/p/thing?x=1',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
    headersTimeoutMs: 1_000,
    bodyTimeoutMs: 1_000,
    maxBodyBytes: 1_024,
    ...overrides,
  };
}

describe('createConnectionPools', () => {
  it('hands out one dispatcher per set of settings', async () => {
    const pools = createConnectionPools();
    try {
      expect(pools.dispatcherFor(settings)).toBe(pools.dispatcherFor({ ...settings }));
      expect(pools.dispatcherFor(settings)).not.toBe(
        pools.dispatcherFor({ ...settings, keepAliveMs: 10_000 }),
      );
      expect(pools.dispatcherFor(settings)).not.toBe(pools.dispatcherFor({ ...settings, connectMs: 500 }));
    } finally {
      await pools.close();
    }
  });

  it('shares nothing between two sets of pools: each container root makes its own', async () => {
    const one = createConnectionPools();
    const other = createConnectionPools();
    try {
      expect(one.dispatcherFor(settings)).not.toBe(other.dispatcherFor(settings));
    } finally {
      await Promise.all([one.close(), other.close()]);
    }
  });

  it('serves the TaurusDB and IAM clients given the same pools, one connection to each upstream', async () => {
    const taurusDb = await startTaurusDbStandIn({ acceptedTokens: ['MIIT-secret-token-value-0001'] });
    const user = { kind: 'password', domainName: 'd', userName: 'u', password: 'Pa55w0rd-pools-1' } as const;
    const iam = await startIamStandIn({ users: [user] });
    const pools = createConnectionPools();
    try {
      const iamClient = createIamClient({ endpoint: iam.url, pools });
      const taurusDbClient = createTaurusDbClient({
        endpoint: taurusDb.url,
        authenticator: fakeAuthenticator().authenticator,
        pools,
      });
      for (let round = 0; round < 3; round += 1) {
        await iamClient.createProjectToken(user, CALL.projectId);
        await taurusDbClient.upgradeProxyVersion(CALL);
      }
      expect([iam.tokenRequests(), taurusDb.upgradeRequests()]).toEqual([3, 3]);
      expect([iam.server.connections(), taurusDb.connections()]).toEqual([1, 1]);
    } finally {
      await pools.close();
      await Promise.all([iam.close(), taurusDb.close()]);
    }
  });

  it('leaves a client given no pools with pools of its own', async () => {
    const taurusDb = await startTaurusDbStandIn({ acceptedTokens: ['MIIT-secret-token-value-0001'] });
    try {
      for (let client = 0; client < 2; client += 1) {
        const own = createTaurusDbClient({
          endpoint: taurusDb.url,
          authenticator: fakeAuthenticator().authenticator,
        });
        await own.upgradeProxyVersion(CALL);
      }
      expect(taurusDb.connections()).toBe(2);
    } finally {
      await taurusDb.close();
    }
  });
});

describe('send', () => {
  let pools: ConnectionPools;
  let server: LoopbackServer | undefined;
  let resetting: ResettingServer | undefined;
  afterEach(async () => {
    await pools.close();
    await server?.close();
    await resetting?.close();
    server = undefined;
    resetting = undefined;
  });

  it('returns the answer: status, headers, content type and body, the request as given on the wire', async () => {
    pools = createConnectionPools();
    server = await startLoopbackServer((_request, response) =>
      sendJson(response, 202, { ok: true }, { 'x-subject-token': 'abc' }),
    );
    const sent = await send(pools.dispatcherFor(settings), wire(server.url));
    expect(sent).toMatchObject({
      kind: 'answered',
      answer: { status: 202, body: '{"ok":true}', tooLarge: false, headers: { 'x-subject-token': 'abc' } },
    });
    expect(sent.kind === 'answered' && sent.answer.contentType).toMatch(/^application\/json/);
    expect(server.requests[0]).toMatchObject({ method: 'POST', url: '/v3/p/thing?x=1', body: '{}' });
  });

  it('gives no text for a body over the cap', async () => {
    pools = createConnectionPools();
    server = await startLoopbackServer((_request, response) =>
      sendJson(response, 200, { pad: 'x'.repeat(2_000) }),
    );
    const sent = await send(pools.dispatcherFor(settings), wire(server.url, { maxBodyBytes: 1_024 }));
    expect(sent).toMatchObject({ kind: 'answered', answer: { status: 200, body: '', tooLarge: true } });
  });

  it('reports a refused connection as failed before anything was written', async () => {
    pools = createConnectionPools();
    const sent = await send(pools.dispatcherFor(settings), wire(`http://127.0.0.1:${await closedPort()}`));
    expect(sent).toMatchObject({ kind: 'failed', written: false });
    expect(sent.kind === 'failed' && socketErrorName(sent.error)).toBe('ECONNREFUSED');
  });

  it('reports a reset after the request went out as failed once written', async () => {
    pools = createConnectionPools();
    resetting = await startResettingServer();
    const sent = await send(pools.dispatcherFor(settings), wire(`http://127.0.0.1:${resetting.port}`));
    expect(sent).toMatchObject({ kind: 'failed', written: true });
    expect(resetting.received[0]?.toString('latin1')).toMatch(/^POST \/v3\/p\/thing\?x=1 HTTP\/1\.1\r\n/);
  });

  it('reports a caller that gave up before sending as failed, nothing written', async () => {
    pools = createConnectionPools();
    server = await startLoopbackServer((_request, response) => sendJson(response, 200, {}));
    const caller = new AbortController();
    caller.abort(new Error('deadline passed'));
    const sent = await send(pools.dispatcherFor(settings), wire(server.url, { signal: caller.signal }));
    expect(sent).toMatchObject({ kind: 'failed', written: false });
    expect(server.requests).toHaveLength(0);
  });
});

describe('socketErrorName', () => {
  it('prefers the code, then the name, and names anything else "unknown error"', () => {
    expect(socketErrorName(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }))).toBe('UND_ERR_SOCKET');
    expect(socketErrorName(Object.assign(new TypeError('x'), { code: '' }))).toBe('TypeError');
    expect(socketErrorName(Object.assign(new Error('x'), { code: 7 }))).toBe('Error');
    expect(socketErrorName('ECONNRESET')).toBe('unknown error');
  });
});
