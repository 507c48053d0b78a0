import querystring from 'node:querystring';
import { BasicCredentials } from '@huaweicloud/huaweicloud-sdk-core/auth/BasicCredentials.js';
import type { HcClient } from '@huaweicloud/huaweicloud-sdk-core/HcClient.js';
import { HttpRequestImpl } from '@huaweicloud/huaweicloud-sdk-core/http/IHttpRequest.js';
import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type SignInput, type SigningKeys, signRequest } from '../../../../lib/huawei/auth/aksk-signer.ts';
import {
  type AkSkVerdict,
  sendAkSkRejection,
  verifyAkSkRequest,
} from '../../../../stand-ins/aksk-verifier.ts';
import { type LoopbackServer, sendJson, startLoopbackServer } from '../../../../stand-ins/loopback-server.ts';

const SECRET_KEY = 'sk-9f3aQ7zLmN2pR8sT4uVwX6yZ1bC5dE0fG';
const credentials: SigningKeys = { accessKey: 'HPUAEXAMPLEAK01', secretKey: SECRET_KEY };
const PROJECT_ID = '054e292c9880d4992f02c0196d3ea468';
const UPGRADE_PATH = `/v3/${PROJECT_ID}/instances/517ea793ab91438cbfcd9c4b1c958b1ein07/proxy/0f46fc46396e4fb19a0cb52f578e9511po01/upgrade-version`;

type QueryParams = Record<string, string | string[]>;

/** A request described the way the SDK holds it: the wire path, decoded query parameters, a body object. */
interface SdkShapedRequest {
  method: string;
  origin?: string;
  path: string;
  query?: QueryParams;
  headers: Record<string, string>;
  body?: object;
  projectId?: string;
  securityToken?: string;
  date: Date;
}

/** The URL the SDK's HTTP client puts on the wire for that request (it serialises with querystring). */
function wireUrl(shaped: SdkShapedRequest): URL {
  const query = shaped.query ? querystring.stringify(shaped.query) : '';
  return new URL(
    `${shaped.origin ?? 'https://gaussdb.eu-west-101.myhuaweicloud.eu'}${shaped.path}${query ? `?${query}` : ''}`,
  );
}

/**
 * Huawei's own signing path, `BasicCredentials.processAuthRequest` (it adds X-Project-Id and
 * X-Security-Token, then calls AKSKSigner.sign), with the clock fixed so it generates X-Sdk-Date itself.
 * Returns every header the SDK request ends up with.
 */
async function signWithSdk(shaped: SdkShapedRequest, keys: SigningKeys): Promise<Record<string, string>> {
  const url = wireUrl(shaped);
  const sdkRequest = Object.assign(new HttpRequestImpl(), {
    endpoint: url.origin,
    url: url.pathname,
    method: shaped.method,
    headers: { ...shaped.headers },
    // The SDK sorts repeated values in place.
    queryParams: structuredClone(shaped.query),
    data: shaped.body,
  });
  const sdkCredentials = new BasicCredentials().withAk(keys.accessKey).withSk(keys.secretKey);
  if (shaped.projectId) sdkCredentials.withProjectId(shaped.projectId);
  if (keys.securityToken) sdkCredentials.withSecurityToken(keys.securityToken);
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(shaped.date);
  try {
    // The client is only used for federated (OIDC) credentials, which these are not.
    const signed = await sdkCredentials.processAuthRequest(undefined as unknown as HcClient, sdkRequest);
    return signed.headers as Record<string, string>;
  } finally {
    vi.useRealTimers();
  }
}

function signInputOf(shaped: SdkShapedRequest): SignInput {
  return {
    method: shaped.method,
    url: wireUrl(shaped),
    headers: shaped.headers,
    body: shaped.body === undefined ? '' : JSON.stringify(shaped.body),
    projectId: shaped.projectId,
  };
}

/** The headers the SDK added to the request, minus `host` (which the HTTP client sends by itself). */
function sdkAddedHeaders(
  shaped: SdkShapedRequest,
  sdkHeaders: Record<string, string>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(sdkHeaders)
      .filter(([name]) => !(name in shaped.headers) && name !== 'host')
      .map(([name, value]) => [name.toLowerCase(), value]),
  );
}

const keysFor = (shaped: SdkShapedRequest): SigningKeys =>
  shaped.securityToken ? { ...credentials, securityToken: shaped.securityToken } : credentials;

async function expectSameAsSdk(shaped: SdkShapedRequest) {
  const keys = keysFor(shaped);
  const sdkHeaders = await signWithSdk(shaped, keys);
  const ours = signRequest(keys, signInputOf(shaped), shaped.date);
  expect(ours).toEqual(sdkAddedHeaders(shaped, sdkHeaders));
  return ours;
}

const at = (iso: string) => new Date(iso);

/** A path segment as a client must encode it for this signer: encodeURIComponent, and `'` too. */
const encodeSegment = (segment: string) => encodeURIComponent(segment).replaceAll("'", '%27');

const oracleTable: [string, SdkShapedRequest][] = [
  [
    'the upgrade call: JSON body, X-Language, project id',
    {
      method: 'POST',
      path: UPGRADE_PATH,
      headers: { 'Content-Type': 'application/json', 'X-Language': 'en-us' },
      body: { source_version: '2.23.12.000', target_version: '2.24.03.000' },
      projectId: PROJECT_ID,
      date: at('2026-11-27T10:00:00.000Z'),
    },
  ],
  [
    'a GET with unsorted, repeated and empty query parameters and no body',
    {
      method: 'GET',
      path: `/v3/${PROJECT_ID}/instances/517ea793ab91438cbfcd9c4b1c958b1ein07/proxies`,
      query: { offset: '0', limit: '10', id: ['c', 'a', 'b'], empty: '', Zeta: 'upper-before-lower' },
      headers: { 'X-Language': 'zh-cn' },
      projectId: PROJECT_ID,
      date: at('2027-01-05T03:04:05.678Z'),
    },
  ],
  [
    'path segments with a space, an encoded slash, unicode and sub-delimiters, no trailing slash',
    {
      method: 'POST',
      path: `/v3/${['a b', 'x/y', 'café ü', "it's(*)!", '100%', '~keep_-.'].map(encodeSegment).join('/')}`,
      headers: { 'Content-Type': 'application/json' },
      body: {},
      date: at('2026-02-28T23:59:59.999Z'),
    },
  ],
  [
    'a trailing slash and a port in the host',
    {
      method: 'GET',
      origin: 'http://127.0.0.1:8443',
      path: `/v3/${PROJECT_ID}/jobs/`,
      query: { id: 'd7b0e3c4-1a2b-4c5d-9e8f-0a1b2c3d4e5f' },
      headers: {},
      date: at('2026-06-01T00:00:00.000Z'),
    },
  ],
  [
    'query keys and values needing encoding',
    {
      method: 'GET',
      path: '/v3/search',
      query: { 'a b': 'x y', 'z+': '1+1=2', '~tilde': 'ü/&=?', 'k*': ["'q'", '(p)', '!e'] },
      headers: {},
      date: at('2026-11-27T10:00:00.000Z'),
    },
  ],
  [
    'mixed-case header names, a security token and a unicode body',
    {
      method: 'PUT',
      path: '/v3/things/1',
      headers: {
        'Content-Type': 'application/json',
        'X-CUSTOM-Header': 'Value With Inner  Spaces',
        'x-lower': 'v',
        'X-Request-Id': 'req-123',
      },
      body: { msg: 'żółw 🐢', list: [1, 2, 3], nested: { ok: true } },
      projectId: PROJECT_ID,
      securityToken: 'stok-abc.def/ghi+jkl==',
      date: at('2026-11-27T10:00:00.000Z'),
    },
  ],
  [
    'X-Project-Id passed as a header rather than as the project id',
    {
      method: 'DELETE',
      path: '/',
      headers: { 'X-Project-Id': PROJECT_ID },
      date: at('2030-12-31T23:59:59.000Z'),
    },
  ],
  [
    'a declared payload hash (the SDK adds UNSIGNED-PAYLOAD for non-JSON content types)',
    {
      method: 'POST',
      path: '/v3/upload',
      headers: { 'Content-Type': 'text/plain', 'X-Sdk-Content-Sha256': 'UNSIGNED-PAYLOAD' },
      body: { ignored: 'by the signature' },
      date: at('2026-11-27T10:00:00.000Z'),
    },
  ],
];

/**
 * Requests as the SDK would hold them: arbitrary unicode in path segments, query keys and values (repeated
 * ones too), JSON bodies, header names of letters, digits and `-` with printable values, any date this
 * century.
 */
function shapedRequests(origin?: string): fc.Arbitrary<SdkShapedRequest> {
  const segment = fc.string({ unit: 'grapheme', maxLength: 6 });
  const text = fc.string({ unit: 'grapheme', maxLength: 6 });
  const headerName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,12}$/);
  const headerValue = fc.stringMatching(/^[\x21-\x7e](?:[\x20-\x7e]{0,16}[\x21-\x7e])?$/);
  // Set by the signer, managed by the HTTP client (undici refuses or rewrites them), or chosen below.
  const reserved = [
    'host',
    'authorization',
    'x-sdk-date',
    'x-security-token',
    'x-project-id',
    'x-sdk-content-sha256',
    'connection',
    'content-length',
    'transfer-encoding',
    'keep-alive',
    'upgrade',
    'expect',
    'te',
    'trailer',
    'proxy-connection',
    'content-type',
  ];
  const headers = fc.dictionary(headerName, headerValue, { maxKeys: 5 }).filter((record) => {
    const lower = Object.keys(record).map((name) => name.toLowerCase());
    return new Set(lower).size === lower.length && !lower.some((name) => reserved.includes(name));
  });
  return fc.record({
    origin: fc.constant(origin),
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
    path: fc
      .tuple(fc.array(segment, { maxLength: 4 }), fc.boolean())
      .map(([segments, trailing]) => `/${segments.map(encodeSegment).join('/')}${trailing ? '/' : ''}`),
    query: fc.dictionary(text, fc.oneof(text, fc.array(text, { maxLength: 3 })), { maxKeys: 4 }),
    headers: fc
      .tuple(headers, fc.constantFrom(undefined, 'application/json'))
      .map(([record, contentType]) => (contentType ? { ...record, 'Content-Type': contentType } : record)),
    body: fc.option(fc.dictionary(text, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), { nil: undefined }),
    projectId: fc.option(fc.stringMatching(/^[0-9a-f]{32}$/), { nil: undefined }),
    securityToken: fc.option(fc.stringMatching(/^[\x21-\x7e]{1,24}$/), { nil: undefined }),
    date: fc.date({ min: at('2000-01-01T00:00:00Z'), max: at('2099-12-31T23:59:59Z'), noInvalidDate: true }),
  });
}

describe('signRequest against the Huawei SDK signer', () => {
  it.each(oracleTable)('gives the SDK Authorization and X-Sdk-Date: %s', async (_name, shaped) => {
    const ours = await expectSameAsSdk(shaped);
    expect(ours.authorization).toMatch(
      /^SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK01, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/,
    );
  });

  it('formats X-Sdk-Date as the SDK does (UTC, zero-padded, seconds truncated)', async () => {
    const ours = await expectSameAsSdk(oracleTable[1]?.[1] as SdkShapedRequest);
    expect(ours['x-sdk-date']).toBe('20270105T030405Z');
  });

  it('signs host, the given headers and the added ones, sorted by lower-case name', async () => {
    const ours = await expectSameAsSdk({
      ...(oracleTable[5]?.[1] as SdkShapedRequest),
      securityToken: 'stok-1',
    });
    expect(ours.authorization).toContain(
      'SignedHeaders=content-type;host;x-custom-header;x-lower;x-project-id;x-request-id;x-sdk-date;x-security-token,',
    );
    expect(ours['x-project-id']).toBe(PROJECT_ID);
    expect(ours['x-security-token']).toBe('stok-1');
  });

  it('agrees with the SDK over generated requests', async () => {
    await fc.assert(
      fc.asyncProperty(shapedRequests(), async (shaped) => {
        await expectSameAsSdk(shaped);
      }),
      { numRuns: 150 },
    );
  });
});

describe('signRequest input checks', () => {
  const base: SignInput = {
    method: 'POST',
    url: new URL(`https://gaussdb.example${UPGRADE_PATH}`),
    headers: { 'content-type': 'application/json' },
    body: '{}',
  };
  const now = at('2026-11-27T10:00:00Z');

  it.each([
    ['lower-case method', { ...base, method: 'post' }, 'method must be an upper-case HTTP method'],
    [
      'a header the signer sets',
      { ...base, headers: { Authorization: 'Bearer x' } },
      'headers.authorization is set by the signer; leave it out',
    ],
    [
      'a host header',
      { ...base, headers: { Host: 'elsewhere' } },
      'headers.host is set by the signer; leave it out',
    ],
    [
      'the same header twice in different case',
      { ...base, headers: { 'X-Language': 'en-us', 'x-language': 'zh-cn' } },
      'headers.x-language is given more than once (names differ only in case)',
    ],
    [
      "a raw ' in the path",
      { ...base, url: new URL("https://gaussdb.example/v3/it's") },
      "url path must have ' and | percent-encoded (%27, %7C)",
    ],
    [
      'a raw | in the path',
      { ...base, url: new URL('https://gaussdb.example/v3/a|b') },
      "url path must have ' and | percent-encoded (%27, %7C)",
    ],
    [
      'an X-Project-Id header contradicting projectId',
      { ...base, headers: { 'x-project-id': 'other' }, projectId: PROJECT_ID },
      'headers.x-project-id differs from projectId',
    ],
  ])('refuses %s, naming the field, without the secret key', (_name, input, message) => {
    const error = (() => {
      try {
        signRequest(credentials, input, now);
      } catch (caught) {
        return caught as Error;
      }
      throw new Error('signRequest did not throw');
    })();
    expect(error.message).toBe(message);
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain(SECRET_KEY);
  });

  it('refuses empty keys and an invalid date', () => {
    expect(() => signRequest({ accessKey: 'AK', secretKey: '' }, base, now)).toThrow(
      'credentials.secretKey must be a non-empty string',
    );
    expect(() => signRequest({ accessKey: '', secretKey: SECRET_KEY }, base, now)).toThrow(
      'credentials.accessKey must be a non-empty string',
    );
    expect(() => signRequest(credentials, base, new Date(Number.NaN))).toThrow('now must be a valid Date');
  });

  it('puts the secret key in no returned header', () => {
    const headers = signRequest(
      { ...credentials, securityToken: 'stok' },
      { ...base, projectId: PROJECT_ID },
      now,
    );
    expect(Object.keys(headers).sort()).toEqual([
      'authorization',
      'x-project-id',
      'x-sdk-date',
      'x-security-token',
    ]);
    expect(JSON.stringify(headers)).not.toContain(SECRET_KEY);
  });
});

describe('a signed request verified where it arrives', () => {
  const GATEWAY_NOW = at('2026-11-27T10:00:00.000Z');
  const secretKeys = new Map<string, string>();
  const verdicts: AkSkVerdict[] = [];
  let gatewayNow = GATEWAY_NOW;
  let gateway: LoopbackServer;

  beforeAll(async () => {
    gateway = await startLoopbackServer((received, response) => {
      const verdict = verifyAkSkRequest(received, {
        secretKeyFor: (accessKey) => secretKeys.get(accessKey),
        now: () => gatewayNow,
      });
      verdicts.push(verdict);
      if (!verdict.ok) sendAkSkRejection(response, verdict, `req-${verdicts.length}`);
      else sendJson(response, 200, { access_key: verdict.accessKey });
    });
  });
  afterAll(() => gateway.close());
  beforeEach(() => {
    secretKeys.clear();
    secretKeys.set(credentials.accessKey, SECRET_KEY);
    verdicts.length = 0;
    gatewayNow = GATEWAY_NOW;
  });

  async function send(input: SignInput, authHeaders: Record<string, string>) {
    const response = await request(input.url, {
      method: input.method as 'GET',
      headers: { ...input.headers, ...authHeaders },
      body: input.body === '' ? undefined : input.body,
    });
    return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
  }

  function upgradeInput(overrides: Partial<SignInput> = {}): SignInput {
    return {
      method: 'POST',
      url: new URL(`${gateway.url}${UPGRADE_PATH}`),
      headers: { 'content-type': 'application/json', 'x-language': 'en-us' },
      body: JSON.stringify({ source_version: '2.23.12.000', target_version: '2.24.03.000' }),
      projectId: PROJECT_ID,
      ...overrides,
    };
  }

  const lastVerdict = () => verdicts.at(-1);

  it('accepts the upgrade call as sent by undici, with the project id and security token on the wire', async () => {
    const keys = { ...credentials, securityToken: 'stok-temporary-1' };
    const input = upgradeInput();
    const answer = await send(input, signRequest(keys, input, GATEWAY_NOW));
    expect(answer).toEqual({ status: 200, body: { access_key: credentials.accessKey } });
    const received = gateway.requests.at(-1);
    expect(received?.headers.host).toBe(`127.0.0.1:${gateway.port}`);
    expect(received?.headers['x-project-id']).toBe(PROJECT_ID);
    expect(received?.headers['x-security-token']).toBe('stok-temporary-1');
    expect(received?.headers['x-sdk-date']).toBe('20261127T100000Z');
  });

  it('accepts encoded paths, repeated unsorted query parameters and an empty body', async () => {
    const url = new URL(`${gateway.url}/v3/${['a b', 'x/y', 'café'].map(encodeURIComponent).join('/')}/`);
    url.search = 'limit=10&id=c&id=a&empty=&offset=0&q=%C3%BC%20%2B';
    const input: SignInput = { method: 'GET', url, headers: { 'X-Language': 'zh-cn' }, body: '' };
    const answer = await send(input, signRequest(credentials, input, GATEWAY_NOW));
    expect(answer.status).toBe(200);
    expect(gateway.requests.at(-1)?.url).toBe(`${url.pathname}${url.search}`);
  });

  it('signs a header value as the receiver reads it, without surrounding spaces', async () => {
    const input = upgradeInput({ headers: { 'content-type': 'application/json', 'x-language': '  en-us ' } });
    const answer = await send(input, signRequest(credentials, input, GATEWAY_NOW));
    expect(answer.status).toBe(200);
  });

  it('accepts a request signed by the Huawei SDK (the verifier agrees with Huawei, not just with us)', async () => {
    const shaped: SdkShapedRequest = {
      method: 'POST',
      origin: gateway.url,
      path: `/v3/${PROJECT_ID}/${encodeURIComponent('odd id/ü')}`,
      query: { b: ['2', '1'], a: '' },
      headers: { 'Content-Type': 'application/json', 'X-Language': 'en-us' },
      body: { source_version: '2.23.12.000', target_version: '2.24.03.000' },
      projectId: PROJECT_ID,
      date: GATEWAY_NOW,
    };
    const sdkHeaders = await signWithSdk(shaped, credentials);
    const { host: _host, ...toSend } = sdkHeaders;
    const response = await request(wireUrl(shaped), {
      method: 'POST',
      headers: toSend,
      body: JSON.stringify(shaped.body),
    });
    await response.body.dump();
    expect(response.statusCode).toBe(200);
    expect(lastVerdict()).toEqual({ ok: true, accessKey: credentials.accessKey });
  });

  it('accepts generated requests signed by our signer and by the SDK alike', async () => {
    await fc.assert(
      fc.asyncProperty(shapedRequests(gateway.url), async (shaped) => {
        gatewayNow = shaped.date;
        const input = signInputOf(shaped);
        const ours = await send(input, signRequest(keysFor(shaped), input, shaped.date));
        expect(lastVerdict()).toEqual({ ok: true, accessKey: credentials.accessKey });
        expect(ours.status).toBe(200);
        const { host: _host, ...sdkHeaders } = await signWithSdk(shaped, keysFor(shaped));
        const sdk = await request(input.url, {
          method: input.method as 'GET',
          headers: sdkHeaders,
          body: input.body === '' ? undefined : input.body,
        });
        await sdk.body.dump();
        expect(lastVerdict()).toEqual({ ok: true, accessKey: credentials.accessKey });
      }),
      { numRuns: 60 },
    );
  });

  it('rejects a tampered body with APIGW.0301', async () => {
    const input = upgradeInput();
    const signed = signRequest(credentials, input, GATEWAY_NOW);
    const answer = await send({ ...input, body: input.body.replace('2.24.03.000', '2.24.09.000') }, signed);
    expect(answer).toEqual({
      status: 401,
      body: {
        error_msg: 'Incorrect IAM authentication information: verify aksk signature fail',
        error_code: 'APIGW.0301',
        request_id: 'req-1',
      },
    });
    expect(lastVerdict()).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('rejects a tampered path', async () => {
    const input = upgradeInput();
    const signed = signRequest(credentials, input, GATEWAY_NOW);
    const otherProxy = new URL(
      input.url.href.replace('0f46fc46396e4fb19a0cb52f578e9511po01', 'ffffffffffffpo01'),
    );
    const answer = await send({ ...input, url: otherProxy }, signed);
    expect(answer.status).toBe(401);
    expect(lastVerdict()).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('rejects a tampered query and a tampered signed header', async () => {
    const url = new URL(`${gateway.url}/v3/${PROJECT_ID}/jobs?id=job-1`);
    const input: SignInput = { method: 'GET', url, headers: { 'x-language': 'en-us' }, body: '' };
    const signed = signRequest(credentials, input, GATEWAY_NOW);
    expect(
      (await send({ ...input, url: new URL(`${gateway.url}/v3/${PROJECT_ID}/jobs?id=job-2`) }, signed))
        .status,
    ).toBe(401);
    expect((await send({ ...input, headers: { 'x-language': 'zh-cn' } }, signed)).status).toBe(401);
    expect((await send(input, signed)).status).toBe(200);
  });

  it('rejects a signature made with the wrong secret key, and an unknown access key', async () => {
    const input = upgradeInput();
    const wrongKey = await send(
      input,
      signRequest({ ...credentials, secretKey: 'not-the-key' }, input, GATEWAY_NOW),
    );
    expect(wrongKey.status).toBe(401);
    expect(lastVerdict()).toMatchObject({ ok: false, reason: 'bad-signature' });
    const unknown = await send(
      input,
      signRequest({ accessKey: 'NOSUCHAK', secretKey: SECRET_KEY }, input, GATEWAY_NOW),
    );
    expect(unknown.status).toBe(401);
    expect(lastVerdict()).toMatchObject({ ok: false, reason: 'unknown-access-key' });
  });

  it('rejects a request without Authorization', async () => {
    const input = upgradeInput();
    const { authorization: _dropped, ...rest } = signRequest(credentials, input, GATEWAY_NOW);
    expect((await send(input, rest)).status).toBe(401);
    expect(lastVerdict()).toMatchObject({ ok: false, reason: 'missing-authorization' });
  });

  it('rejects X-Sdk-Date 16 minutes off either way and accepts 14 minutes', async () => {
    const input = upgradeInput();
    const minutes = (count: number) => new Date(GATEWAY_NOW.getTime() + count * 60_000);
    const outcomes: [number, number, string | undefined][] = [];
    for (const offset of [-16, 16, -14, 14]) {
      const answer = await send(input, signRequest(credentials, input, minutes(offset)));
      const verdict = lastVerdict();
      outcomes.push([offset, answer.status, verdict?.ok ? undefined : verdict?.reason]);
    }
    expect(outcomes).toEqual([
      [-16, 401, 'stale-date'],
      [16, 401, 'stale-date'],
      [-14, 200, undefined],
      [14, 200, undefined],
    ]);
  });
});
