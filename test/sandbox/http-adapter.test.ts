import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import {
  apiGatewayTime,
  type HttpAdapter,
  type HttpAdapterOptions,
  startHttpAdapter,
  toHttpApiEvent,
} from '../../sandbox/http-adapter.ts';

const RECEIVED_AT = Date.parse('2026-11-27T10:00:00Z');

interface Invocation {
  event: APIGatewayProxyEventV2;
  context: Context;
  remainingMs: number;
}

let adapter: HttpAdapter | undefined;
afterEach(async () => {
  await adapter?.close();
  adapter = undefined;
});

/** Starts the adapter with a handler that records what it was invoked with and answers `answer`. */
async function start(
  answer: (event: APIGatewayProxyEventV2) => unknown = () => ({ statusCode: 204, headers: {}, body: '' }),
  options: Partial<HttpAdapterOptions> = {},
) {
  const invocations: Invocation[] = [];
  adapter = await startHttpAdapter({
    handler: async (event, context) => {
      invocations.push({ event, context, remainingMs: context.getRemainingTimeInMillis() });
      return answer(event);
    },
    now: () => RECEIVED_AT,
    ...options,
  });
  return { adapter, invocations };
}

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** node:http, so that repeated headers go out as separate header lines, as a real client may send them. */
function send(
  url: string,
  options: { method?: string; headers?: string[]; body?: Buffer | string } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    // Headers given as a raw list get no Host header added: an HTTP/1.1 request without one is refused.
    const headers = ['Host', new URL(url).host, ...(options.headers ?? [])];
    const outgoing = httpRequest(url, { method: options.method ?? 'POST', headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
      );
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

describe('http adapter: the payload 2.0 event', () => {
  it('turns a POST /upgrades into the event API Gateway sends, every field set', async () => {
    const { adapter, invocations } = await start();
    const body = '{"project_id":"054e292c9880d4992f02c0196d3ea468"}';

    const answer = await send(`${adapter.url}/upgrades?dry=1&dry=2&note=a%20b`, {
      headers: [
        'Content-Type',
        'application/json',
        'User-Agent',
        'ChangeManager-Webhooks/3.2',
        'Webhook-Id',
        'msg_2pQ8TzHk1wN3bXy5',
        'X-Multi',
        'one',
        'X-Multi',
        'two',
        'Cookie',
        'a=1; b=2',
        'Content-Length',
        String(Buffer.byteLength(body)),
      ],
      body,
    });

    expect(answer.status).toBe(204);
    expect(invocations).toHaveLength(1);
    const [{ event } = {} as Invocation] = invocations;
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'POST /upgrades',
      rawPath: '/upgrades',
      rawQueryString: 'dry=1&dry=2&note=a%20b',
      queryStringParameters: { dry: '1,2', note: 'a b' },
      cookies: ['a=1', 'b=2'],
      body,
      isBase64Encoded: false,
    });
    expect(event.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'ChangeManager-Webhooks/3.2',
      'webhook-id': 'msg_2pQ8TzHk1wN3bXy5',
      'x-multi': 'one,two',
      host: `127.0.0.1:${adapter.port}`,
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-amzn-trace-id': expect.stringMatching(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/),
    });
    // Names are lower-cased and cookies are taken out, as API Gateway does.
    expect(Object.keys(event.headers).filter((name) => name !== name.toLowerCase())).toEqual([]);
    expect(event.headers.cookie).toBeUndefined();
    expect(event.requestContext).toEqual({
      accountId: '000000000000',
      apiId: 'sandbox',
      domainName: `127.0.0.1:${adapter.port}`,
      domainPrefix: '127',
      http: {
        method: 'POST',
        path: '/upgrades',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'ChangeManager-Webhooks/3.2',
      },
      requestId: answer.headers['apigw-requestid'],
      routeKey: 'POST /upgrades',
      stage: '$default',
      time: '27/Nov/2026:10:00:00 +0000',
      timeEpoch: RECEIVED_AT,
    });
    expect(event.requestContext.requestId).toMatch(/^[A-Za-z0-9+/]{15}=$/);
  });

  it('sends a path that is not a route to $default, so the handler decides what to answer', async () => {
    const { adapter, invocations } = await start();

    await send(`${adapter.url}/nowhere`, { method: 'GET' });
    await send(`${adapter.url}/upgrades`, {
      method: 'PUT',
      headers: ['content-type', 'application/json'],
      body: '{}',
    });

    expect(
      invocations.map(({ event }) => [event.routeKey, event.rawPath, event.requestContext.http.method]),
    ).toEqual([
      ['$default', '/nowhere', 'GET'],
      ['$default', '/upgrades', 'PUT'],
    ]);
    // No body and no query: the fields are absent, as in API Gateway's events.
    expect(invocations[0]?.event).not.toHaveProperty('body');
    expect(invocations[0]?.event).not.toHaveProperty('queryStringParameters');
    expect(invocations[0]?.event.isBase64Encoded).toBe(false);
  });

  it('base64-encodes a binary body, and a JSON body that is not UTF-8', async () => {
    const { adapter, invocations } = await start();
    const bytes = Buffer.from([0x7b, 0xff, 0x00, 0xfe, 0x7d]);

    await send(`${adapter.url}/upgrades`, {
      headers: ['content-type', 'application/octet-stream'],
      body: bytes,
    });
    await send(`${adapter.url}/upgrades`, { headers: ['content-type', 'application/json'], body: bytes });
    await send(`${adapter.url}/upgrades`, { headers: ['content-type', 'text/plain'], body: 'plain text' });

    const bodies = invocations.map(({ event }) => [event.isBase64Encoded, event.body]);
    expect(bodies).toEqual([
      [true, bytes.toString('base64')],
      [true, bytes.toString('base64')],
      [false, 'plain text'],
    ]);
  });

  it('passes a Lambda context whose remaining time counts down from the 29 s timeout', async () => {
    let clock = RECEIVED_AT;
    const { adapter, invocations } = await start(undefined, { now: () => clock });

    await send(`${adapter.url}/upgrades`, { headers: ['content-type', 'application/json'], body: '{}' });
    const [{ context } = {} as Invocation] = invocations;
    clock += 4_000;

    expect(invocations[0]?.remainingMs).toBe(29_000);
    expect(context.getRemainingTimeInMillis()).toBe(25_000);
    expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context.functionName).toBe('taurusdb-proxy-upgrader-sandbox-upgrade');
    expect(context.invokedFunctionArn).toBe(
      'arn:aws:lambda:eu-west-1:000000000000:function:taurusdb-proxy-upgrader-sandbox-upgrade',
    );
  });

  it('builds the same event without a server (toHttpApiEvent), time in API Gateway format', () => {
    const event = toHttpApiEvent({
      method: 'post',
      target: '/upgrades',
      rawHeaders: ['Host', 'example.test', 'X-Forwarded-For', '203.0.113.24'],
      body: Buffer.alloc(0),
      sourceIp: '10.0.0.1',
      protocol: 'HTTP/1.1',
      receivedAt: new Date(Date.parse('2026-01-05T03:04:05Z')),
      requestId: 'CvO0bhx3joEEMxw=',
    });

    expect(event.routeKey).toBe('POST /upgrades');
    expect(event.headers['x-forwarded-for']).toBe('203.0.113.24, 10.0.0.1');
    expect(event.requestContext.domainName).toBe('example.test');
    expect(event.requestContext.time).toBe('05/Jan/2026:03:04:05 +0000');
    expect(apiGatewayTime(new Date(Date.parse('2026-12-31T23:59:59Z')))).toBe('31/Dec/2026:23:59:59 +0000');
  });
});

describe('http adapter: the answer', () => {
  it('writes a structured result back: status, headers, cookies and a base64 body decoded', async () => {
    const bytes = Buffer.from([0x00, 0x01, 0xfe, 0xff]);
    const { adapter } = await start(() => ({
      statusCode: 202,
      headers: { 'Content-Type': 'application/octet-stream', 'X-Count': 3 },
      cookies: ['session=abc; HttpOnly', 'theme=dark'],
      body: bytes.toString('base64'),
      isBase64Encoded: true,
    }));

    const answer = await send(`${adapter.url}/upgrades`, {
      headers: ['content-type', 'application/json'],
      body: '{}',
    });

    expect(answer.status).toBe(202);
    expect(answer.headers['content-type']).toBe('application/octet-stream');
    expect(answer.headers['x-count']).toBe('3');
    expect(answer.headers['set-cookie']).toEqual(['session=abc; HttpOnly', 'theme=dark']);
    expect(answer.body.equals(bytes)).toBe(true);
  });

  it('answers a result without statusCode as API Gateway infers it: 200, JSON', async () => {
    const { adapter } = await start(() => ({ outcomes: [{ outcome: 'accepted' }] }));

    const answer = await send(`${adapter.url}/upgrades`, {
      headers: ['content-type', 'application/json'],
      body: '{}',
    });

    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.body.toString('utf8'))).toEqual({ outcomes: [{ outcome: 'accepted' }] });
  });

  it("answers API Gateway's 500 when the handler throws, and reports the error", async () => {
    const reported: unknown[] = [];
    const { adapter } = await start(
      () => {
        throw new Error('handler exploded');
      },
      { onError: (error) => reported.push(error) },
    );

    const answer = await send(`${adapter.url}/upgrades`, {
      headers: ['content-type', 'application/json'],
      body: '{}',
    });

    expect(answer.status).toBe(500);
    expect(JSON.parse(answer.body.toString('utf8'))).toEqual({ message: 'Internal Server Error' });
    expect(reported).toEqual([expect.objectContaining({ message: 'handler exploded' })]);
  });

  it("answers API Gateway's 500 when the handler overruns the function's timeout", async () => {
    const reported: unknown[] = [];
    const { adapter } = await start(() => new Promise(() => {}), {
      timeoutMs: 50,
      onError: (error) => reported.push(error),
    });

    const answer = await send(`${adapter.url}/upgrades`, {
      headers: ['content-type', 'application/json'],
      body: '{}',
    });

    expect(answer.status).toBe(500);
    expect(reported).toEqual([expect.objectContaining({ message: 'Task timed out after 0.05 seconds' })]);
  });

  it('runs one invocation at a time, as one Lambda execution environment does', async () => {
    let active = 0;
    let mostActive = 0;
    const { adapter } = await start(async () => {
      active += 1;
      mostActive = Math.max(mostActive, active);
      await sleep(20);
      active -= 1;
      return { statusCode: 200, body: '' };
    });

    const answers = await Promise.all(
      [1, 2, 3].map(() =>
        send(`${adapter.url}/upgrades`, { headers: ['content-type', 'application/json'], body: '{}' }),
      ),
    );

    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(mostActive).toBe(1);
  });
});
