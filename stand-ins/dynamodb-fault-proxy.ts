import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What the proxy does to a matching request:
 * - `hang`: never forwarded, never answered; the socket stays open (DynamoDB or the network stalled
 *   before the write landed);
 * - `lose-answer`: forwarded, so the write lands, but its answer never comes back;
 * - `throttle`: not forwarded; answered 400 ThrottlingException, as DynamoDB throttles.
 */
export type DynamoFault = 'hang' | 'lose-answer' | 'throttle';

export interface DynamoFaultRule {
  /** The operation as DynamoDB's JSON protocol names it in `X-Amz-Target`, e.g. `UpdateItem`. */
  operation: string;
  fault: DynamoFault;
  /** How many matching requests get the fault; unlimited by default. */
  times?: number;
  /** Only while this holds (e.g. once TaurusDB has the POST); checked per request. */
  when?: () => boolean;
  /** Only requests whose JSON body contains this, e.g. `.sending#` for the sending record's writes. */
  bodyIncludes?: string;
}

export interface ProxiedDynamoRequest {
  /** `UpdateItem`, `PutItem`, … */
  operation: string;
  /** The fault it got, if any. */
  fault?: DynamoFault;
}

export interface DynamoFaultProxy {
  /** `http://127.0.0.1:<port>`: what `AWS_ENDPOINT_URL_DYNAMODB` is set to. */
  url: string;
  /** Where requests go (dynalite); settable later, since the world starts dynalite after the proxy. */
  forwardTo(endpoint: string): void;
  fail(rule: DynamoFaultRule): void;
  /** Drops every rule; requests held by `hang` stay held. */
  clear(): void;
  /** Every request, in arrival order. */
  requests: ProxiedDynamoRequest[];
  close(): Promise<void>;
}

const TARGET_PREFIX = 'DynamoDB_20120810.';

function throttle(response: ServerResponse): void {
  const body = JSON.stringify({
    __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
    message: 'Rate of requests exceeds the allowed throughput.',
  });
  response.writeHead(400, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': 'fault-proxy-throttled',
  });
  response.end(body);
}

/** Sends the request on to `endpoint`; `answer` false drops DynamoDB's answer on the floor. */
function forward(
  endpoint: string,
  incoming: IncomingMessage,
  body: Buffer,
  response: ServerResponse,
  answer: boolean,
) {
  const upstream = request(
    new URL(incoming.url ?? '/', endpoint),
    { method: incoming.method, headers: incoming.headers },
    (reply) => {
      if (!answer) {
        reply.resume();
        return;
      }
      response.writeHead(reply.statusCode ?? 502, reply.headers);
      reply.pipe(response);
    },
  );
  upstream.on('error', () => response.destroy());
  upstream.end(body);
}

/**
 * An HTTP proxy in front of dynalite that sees each DynamoDB request's operation (`X-Amz-Target`)
 * and can stall, swallow the answer of, or throttle chosen operations. Everything else passes
 * through untouched, keep-alive included, so the SDK client behaves as against DynamoDB.
 */
export async function startDynamoFaultProxy(): Promise<DynamoFaultProxy> {
  let endpoint: string | undefined;
  let rules: Array<DynamoFaultRule & { used: number }> = [];
  const requests: ProxiedDynamoRequest[] = [];

  function faultFor(operation: string, body: string): DynamoFault | undefined {
    const rule = rules.find(
      (candidate) =>
        candidate.operation === operation &&
        (candidate.bodyIncludes === undefined || body.includes(candidate.bodyIncludes)) &&
        candidate.used < (candidate.times ?? Number.POSITIVE_INFINITY) &&
        (candidate.when?.() ?? true),
    );
    if (rule === undefined) return undefined;
    rule.used += 1;
    return rule.fault;
  }

  const server: Server = createServer(async (incoming, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const target = String(incoming.headers['x-amz-target'] ?? '');
    const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
    const body = Buffer.concat(chunks);
    const fault = faultFor(operation, body.toString('utf8'));
    requests.push({ operation, ...(fault === undefined ? {} : { fault }) });
    if (fault === 'hang') return;
    if (fault === 'throttle') return throttle(response);
    if (endpoint === undefined) {
      response.writeHead(502, { 'content-type': 'text/plain' });
      response.end('dynamo fault proxy: forwardTo(endpoint) was not called');
      return;
    }
    forward(endpoint, incoming, body, response, fault !== 'lose-answer');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    forwardTo(url) {
      endpoint = url;
    },
    fail(rule) {
      rules.push({ ...rule, used: 0 });
    },
    clear() {
      rules = [];
    },
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        // Held requests would keep close() waiting for ever.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
