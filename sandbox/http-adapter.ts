import { isUtf8 } from 'node:buffer';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';

/**
 * Plays API Gateway's HTTP API (payload format 2.0) and the Lambda runtime in front of a handler on
 * 127.0.0.1: each HTTP request becomes the event API Gateway would send, the handler runs with a
 * Lambda-like context, and its result is written back the way API Gateway interprets it.
 */

/** An HTTP request as it arrived, before API Gateway turns it into an event. */
export interface ReceivedHttpRequest {
  method: string;
  /** The request target as received: path and query, still URL-encoded. */
  target: string;
  /** Node's `rawHeaders`: name, value, name, value, ... in arrival order, duplicates kept. */
  rawHeaders: string[];
  body: Buffer;
  sourceIp: string;
  /** `HTTP/1.1` */
  protocol: string;
  receivedAt: Date;
  requestId: string;
}

/** What API Gateway knows about the API itself. */
export interface HttpApiShape {
  /** Route keys (`POST /upgrades`); a request matching none goes to the `$default` route. */
  routes: string[];
  stage: string;
  accountId: string;
  apiId: string;
  /** Used when the request carries no Host header. */
  domainName: string;
}

export type LambdaHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;

/**
 * Another function behind the same API: requests whose path is `prefix` or below it go to its
 * handler (API Gateway's integration per route), the rest to the adapter's `handler`.
 */
export interface RoutedFunction {
  prefix: string;
  handler: LambdaHandler;
  functionName: string;
}

export interface HttpAdapterOptions {
  handler: LambdaHandler;
  /** Functions other than `handler` behind the API, by path prefix (e.g. `/rollouts`). */
  functions?: RoutedFunction[];
  port?: number;
  host?: string;
  api?: Partial<HttpApiShape>;
  /** The function's timeout (serverless.yml: 29 s); at its end the client gets API Gateway's 500. */
  timeoutMs?: number;
  functionName?: string;
  region?: string;
  /** A handler that threw or timed out, as Lambda would log it. */
  onError?: (error: unknown, awsRequestId: string) => void;
  now?: () => number;
}

export interface HttpAdapter {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** What goes back to the client. */
export interface HttpAnswer {
  statusCode: number;
  headers: Record<string, string>;
  cookies: string[];
  body: Buffer;
}

export const defaults = {
  api: {
    routes: ['POST /upgrades'],
    stage: '$default',
    accountId: '000000000000',
    apiId: 'sandbox',
    domainName: '127.0.0.1',
  } satisfies HttpApiShape,
  timeoutMs: 29_000,
  functionName: 'taurusdb-proxy-upgrader-sandbox-upgrade',
  region: 'eu-west-1',
  // API Gateway's payload limit.
  maxBodyBytes: 10 * 1024 * 1024,
};

// API Gateway passes these as text; everything else (and text that is not UTF-8) is base64-encoded.
const TEXT_CONTENT_TYPE =
  /^\s*(text\/[^;]*|application\/(json|xml|javascript|x-www-form-urlencoded)|[a-z]+\/[^;]*\+(json|xml))\s*(;|$)/i;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** API Gateway's `requestContext.time`: `27/Nov/2026:10:00:00 +0000`. */
export function apiGatewayTime(at: Date): string {
  const pad = (value: number) => String(value).padStart(2, '0');
  return (
    `${pad(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:` +
    `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())} +0000`
  );
}

/** An id in API Gateway's form, e.g. `CvO0bhx3joEEMxw=`. */
export function apiGatewayRequestId(): string {
  return randomBytes(11).toString('base64');
}

function traceId(at: Date): string {
  return `Root=1-${Math.floor(at.getTime() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Header names lower-cased, repeated headers joined with commas; cookies taken out into their own list. */
function headersOf(rawHeaders: string[]): { headers: Record<string, string>; cookies: string[] } {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    const name = (rawHeaders[index] as string).toLowerCase();
    const value = rawHeaders[index + 1] as string;
    if (name === 'cookie') {
      cookies.push(
        ...value
          .split(';')
          .map((cookie) => cookie.trim())
          .filter(Boolean),
      );
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  return { headers, cookies };
}

function queryParametersOf(rawQueryString: string): Record<string, string> | undefined {
  if (rawQueryString === '') return undefined;
  const parameters: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    parameters[name] = name in parameters ? `${parameters[name]},${value}` : value;
  }
  return parameters;
}

/**
 * The route key API Gateway would match: `METHOD /path` exactly, or a template whose `{name}`
 * segments each match one path segment (its value in pathParameters).
 */
export function matchRouteKey(routes: readonly string[], method: string, path: string) {
  const segments = path.split('/');
  for (const routeKey of routes) {
    const [routeMethod, template = ''] = routeKey.split(' ');
    const parts = template.split('/');
    if (routeMethod !== method || parts.length !== segments.length) continue;
    const pathParameters: Record<string, string> = {};
    const fits = parts.every((part, index) => {
      const segment = segments[index] as string;
      const name = /^\{([^}+]+)\}$/.exec(part)?.[1];
      if (name === undefined) return part === segment;
      pathParameters[name] = segment;
      return segment !== '';
    });
    if (fits) {
      return {
        routeKey,
        pathParameters: Object.keys(pathParameters).length > 0 ? pathParameters : undefined,
      };
    }
  }
  return undefined;
}

function bodyFieldsOf(body: Buffer, contentType: string | undefined) {
  if (body.length === 0) return { isBase64Encoded: false };
  if (contentType !== undefined && TEXT_CONTENT_TYPE.test(contentType) && isUtf8(body)) {
    return { body: body.toString('utf8'), isBase64Encoded: false };
  }
  return { body: body.toString('base64'), isBase64Encoded: true };
}

/** The HTTP API payload 2.0 event for a request, with every field API Gateway sets. */
export function toHttpApiEvent(
  request: ReceivedHttpRequest,
  api: HttpApiShape = defaults.api,
): APIGatewayProxyEventV2 {
  const queryStart = request.target.indexOf('?');
  const rawPath = queryStart === -1 ? request.target : request.target.slice(0, queryStart);
  const rawQueryString = queryStart === -1 ? '' : request.target.slice(queryStart + 1);
  const path = safeDecode(rawPath);
  const method = request.method.toUpperCase();
  const matched = matchRouteKey(api.routes, method, path);
  const routeKey = matched?.routeKey ?? '$default';
  const { headers, cookies } = headersOf(request.rawHeaders);
  // What API Gateway adds on its way to the function.
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${request.sourceIp}`
    : request.sourceIp;
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-amzn-trace-id'] ??= traceId(request.receivedAt);
  const domainName = headers.host ?? api.domainName;
  const queryStringParameters = queryParametersOf(rawQueryString);
  const pathParameters = matched?.pathParameters;
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(queryStringParameters === undefined ? {} : { queryStringParameters }),
    ...(pathParameters === undefined ? {} : { pathParameters }),
    requestContext: {
      accountId: api.accountId,
      apiId: api.apiId,
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method,
        path,
        protocol: request.protocol,
        sourceIp: request.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: request.requestId,
      routeKey,
      stage: api.stage,
      time: apiGatewayTime(request.receivedAt),
      timeEpoch: request.receivedAt.getTime(),
    },
    ...bodyFieldsOf(request.body, headers['content-type']),
  };
}

export interface LambdaContextOptions {
  functionName?: string;
  region?: string;
  timeoutMs?: number;
  now?: () => number;
}

/** A context as the Lambda runtime passes it; the remaining time counts down from the function's timeout. */
export function createLambdaContext(options: LambdaContextOptions = {}): Context {
  const now = options.now ?? Date.now;
  const functionName = options.functionName ?? defaults.functionName;
  const region = options.region ?? defaults.region;
  const deadline = now() + (options.timeoutMs ?? defaults.timeoutMs);
  const awsRequestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${defaults.api.accountId}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${new Date(now()).toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]${awsRequestId.replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

const jsonMessage = (statusCode: number, message: string): HttpAnswer => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  cookies: [],
  body: Buffer.from(JSON.stringify({ message })),
});

export const gatewayAnswers = {
  internalError: () => jsonMessage(500, 'Internal Server Error'),
  tooLarge: () => jsonMessage(413, 'Request Entity Too Large'),
};

/**
 * API Gateway's reading of a payload 2.0 result: an object with a numeric `statusCode` is used as
 * given (headers, cookies, body, isBase64Encoded); anything else is a 200 whose JSON body is the
 * result itself (a string is passed as is).
 */
export function toHttpAnswer(result: unknown): HttpAnswer {
  const structured = result as {
    statusCode?: unknown;
    headers?: Record<string, unknown>;
    cookies?: unknown;
    body?: unknown;
    isBase64Encoded?: unknown;
  } | null;
  if (typeof structured !== 'object' || structured === null || typeof structured.statusCode !== 'number') {
    const body = typeof result === 'string' ? result : (JSON.stringify(result) ?? '');
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      cookies: [],
      body: Buffer.from(body),
    };
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(structured.headers ?? {})) {
    if (value !== undefined && value !== null) headers[name.toLowerCase()] = String(value);
  }
  const cookies = Array.isArray(structured.cookies) ? structured.cookies.map(String) : [];
  const text = typeof structured.body === 'string' ? structured.body : '';
  return {
    statusCode: structured.statusCode,
    headers,
    cookies,
    body: structured.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8'),
  };
}

async function readBody(raw: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of raw) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function writeAnswer(response: ServerResponse, answer: HttpAnswer, requestId: string) {
  response.writeHead(answer.statusCode, {
    ...answer.headers,
    ...(answer.cookies.length > 0 ? { 'set-cookie': answer.cookies } : {}),
    'content-length': answer.body.length,
    'apigw-requestid': requestId,
  });
  response.end(answer.body);
}

/**
 * Serves the handler over HTTP. Invocations run one at a time, as in one Lambda execution
 * environment; a handler that overruns the timeout gets API Gateway's 500 and stops holding the line
 * (it cannot be frozen as Lambda would, so whatever it does later is ignored).
 */
export async function startHttpAdapter(options: HttpAdapterOptions): Promise<HttpAdapter> {
  const api: HttpApiShape = { ...defaults.api, ...options.api };
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? defaults.timeoutMs;
  let queue: Promise<unknown> = Promise.resolve();

  function targetOf(path: string) {
    const routed = options.functions?.find(
      (candidate) => path === candidate.prefix || path.startsWith(`${candidate.prefix}/`),
    );
    return routed ?? { handler: options.handler, functionName: options.functionName };
  }

  function invoke(event: APIGatewayProxyEventV2): Promise<HttpAnswer> {
    const target = targetOf(event.requestContext.http.path);
    const run = queue.then(async () => {
      const context = createLambdaContext({
        timeoutMs,
        now,
        ...(target.functionName === undefined ? {} : { functionName: target.functionName }),
        ...(options.region === undefined ? {} : { region: options.region }),
      });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`)),
          timeoutMs,
        );
      });
      try {
        return toHttpAnswer(await Promise.race([target.handler(event, context), timedOut]));
      } catch (error) {
        options.onError?.(error, context.awsRequestId);
        return gatewayAnswers.internalError();
      } finally {
        clearTimeout(timer);
      }
    });
    queue = run.catch(() => undefined);
    return run;
  }

  const server = createServer(async (raw, response) => {
    const requestId = apiGatewayRequestId();
    const receivedAt = new Date(now());
    const body = await readBody(raw, defaults.maxBodyBytes);
    if (body === undefined) {
      response.shouldKeepAlive = false;
      writeAnswer(response, gatewayAnswers.tooLarge(), requestId);
      return;
    }
    const event = toHttpApiEvent(
      {
        method: raw.method ?? 'GET',
        target: raw.url ?? '/',
        rawHeaders: raw.rawHeaders,
        body,
        sourceIp: raw.socket.remoteAddress ?? '127.0.0.1',
        protocol: `HTTP/${raw.httpVersion}`,
        receivedAt,
        requestId,
      },
      api,
    );
    writeAnswer(response, await invoke(event), requestId);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
