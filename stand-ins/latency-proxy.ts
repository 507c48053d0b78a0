import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** One HTTP request as it crossed the proxy. */
export interface ProxiedRequest {
  /** The request line, e.g. `POST /v3/p/instances/i/proxy/x/upgrade-version HTTP/1.1`. */
  line: string;
  /** `X-Amz-Target`: AWS JSON protocols (DynamoDB, EventBridge, Secrets Manager) name the operation there. */
  target: string | undefined;
  /** The latency this request's answer was given. */
  latencyMs: number;
  /** `performance.now()` when the request's first byte arrived, and when its answer's left. */
  arrivedAt: number;
  answeredAt?: number;
}

export interface LatencyProxyOptions {
  /** Where the stand-in listens. */
  port: number;
  host?: string;
  /** Fixed latency of every answer, from the request's first byte to the answer's first byte. */
  latencyMs?: number;
}

export interface LatencyProxy {
  /** `http://127.0.0.1:<port>`: what the client is pointed at instead of the stand-in. */
  url: string;
  port: number;
  /** Changed between phases of a run; applies to requests that start afterwards. */
  latencyMs: number;
  /** TCP connections clients opened to the proxy (each is one connection to the stand-in too). */
  connections(): number;
  /** Every request, in arrival order. */
  requests: ProxiedRequest[];
  /** The latencies given so far, summed over every request. */
  injectedMs(): number;
  /** Answers the stand-in gave later than the latency, so they went out late (their excess is not "injected"). */
  late(): number;
  close(): Promise<void>;
}

// Timers fire up to a millisecond late (libuv keeps time in whole milliseconds), which would put up
// to a millisecond of noise into every "invocation minus latency". So a short wait ends in a busy
// loop on the clock: the answer leaves within microseconds of its deadline. The loop blocks this
// thread, which is the handler's, but only while the handler is waiting for exactly this answer
// (sequential invocations keep one request in flight). Long latencies (the batch's 100 ms, with many
// requests in flight) use the timer alone: a millisecond is noise there, and blocking would not be.
const SPIN_MS = 1.5;
const PRECISE_UP_TO_MS = 20;

// The clock is performance.now(): a double, so the busy loop allocates nothing (process.hrtime.bigint()
// allocates a BigInt per read, and that garbage would set off collections inside measured invocations).
async function waitUntil(deadline: number, latencyMs: number): Promise<void> {
  const remainingMs = deadline - performance.now();
  if (latencyMs >= PRECISE_UP_TO_MS) {
    if (remainingMs > 0) await sleep(remainingMs);
    return;
  }
  if (remainingMs > SPIN_MS) await sleep(remainingMs - SPIN_MS);
  while (performance.now() < deadline) {
    // spin
  }
}

const TARGET_HEADER = /\r\nx-amz-target:[ \t]*([^\r\n]*)/i;

/**
 * A TCP proxy in front of a stand-in that gives every HTTP/1.1 answer the same latency: the answer's
 * first byte leaves exactly `latencyMs` after the request's first byte arrived (the stand-in's own
 * processing time is hidden inside it). So an invocation's time minus the latencies it was served is
 * what the client side spent: the handler's overhead plus loopback hops. It forwards bytes without
 * parsing HTTP: clients that keep one request in flight per connection (undici, the AWS SDK) make
 * "bytes from the client after an answer started" the start of the next request.
 */
export async function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy> {
  const host = options.host ?? '127.0.0.1';
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  let connectionCount = 0;
  let lateCount = 0;
  let injectedMs = 0;

  const server: Server = createServer((client) => {
    connectionCount += 1;
    const upstream = createConnection({ host, port: options.port });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    let phase: 'idle' | 'request' | 'answer' = 'idle';
    let deadline = 0;
    let latencyMs = 0;
    let held: Buffer[] | undefined;
    let released: Promise<void> = Promise.resolve();
    let current: ProxiedRequest | undefined;

    client.on('data', (chunk: Buffer) => {
      if (phase !== 'request') {
        phase = 'request';
        latencyMs = proxy.latencyMs;
        const arrivedAt = performance.now();
        deadline = arrivedAt + latencyMs;
        const head = chunk.toString('latin1', 0, Math.min(chunk.length, 4096));
        injectedMs += latencyMs;
        current = {
          line: head.slice(0, head.indexOf('\r\n')),
          target: TARGET_HEADER.exec(head)?.[1],
          latencyMs,
          arrivedAt,
        };
        requests.push(current);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (phase === 'answer') {
        client.write(chunk);
        return;
      }
      if (held) {
        held.push(chunk);
        return;
      }
      held = [chunk];
      if (performance.now() > deadline) lateCount += 1;
      const answering = current;
      released = waitUntil(deadline, latencyMs).then(() => {
        if (answering) answering.answeredAt = performance.now();
        for (const part of held ?? []) client.write(part);
        held = undefined;
        phase = 'answer';
      });
    });
    upstream.on('end', () => void released.then(() => client.end()));
    client.on('end', () => upstream.end());
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      socket.on('error', () => other.destroy());
      socket.on('close', () => {
        sockets.delete(socket);
        void released.then(() => other.destroy());
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const proxy: LatencyProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    latencyMs: options.latencyMs ?? 0,
    connections: () => connectionCount,
    requests,
    injectedMs: () => injectedMs,
    late: () => lateCount,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
