import { type ChildProcess, fork } from 'node:child_process';
import { type LatencyProxy, type ProxiedRequest, startLatencyProxy } from '../stand-ins/latency-proxy.ts';

/** Injected latency per upstream, in milliseconds. */
export interface Latencies {
  taurusDb: number;
  eventBridge: number;
  dynamoDb: number;
}

/** What the stand-ins process reports when it is ready. */
export interface StandInsReady {
  ports: Record<keyof Latencies, number>;
  /** Reached directly, without a proxy: they are called once per cache lifetime. */
  secretsManager: string;
  iam: string;
  tableName: string;
  webhookKey: string;
}

/** What the stand-ins themselves saw. */
export interface StandInCounts {
  taurusDb: { upgrades: number; versionReads: number; otherRequests: number };
  eventBridge: { calls: number; entries: number };
  secretsManager: { credentialsReads: number; webhookKeyReads: number; connections: number };
  iam: { tokenRequests: number; connections: number };
}

/** What crossed the wire so far: the stand-ins' records, and the connections and requests the proxies saw. */
export interface UpstreamCounts {
  taurusDb: StandInCounts['taurusDb'] & { connections: number; late: number };
  eventBridge: StandInCounts['eventBridge'] & { connections: number; late: number };
  dynamoDb: { operations: Record<string, number>; calls: number; connections: number; late: number };
  secretsManager: StandInCounts['secretsManager'];
  iam: StandInCounts['iam'];
}

/** One call through a latency proxy, as the handler's timeline shows it. */
export interface TimedCall {
  /** `GET version`, `POST upgrade`, `PutEvents`, `PutItem`, ... */
  label: string;
  arrivedAt: number;
  answeredAt: number | undefined;
}

/** Requests through the latency proxies so far, and the latency they were given in all. */
export interface Tally {
  requests: number;
  injectedMs: number;
}

export interface Upstreams {
  /** Latency proxies in front of the stand-ins. */
  taurusDb: string;
  eventBridge: string;
  dynamoDb: string;
  secretsManager: string;
  iam: string;
  tableName: string;
  webhookKey: string;
  tally(): Tally;
  /** The calls whose request arrived between `from` and `to` (`performance.now()`), in arrival order. */
  timeline(from: number, to: number): TimedCall[];
  counts(): Promise<UpstreamCounts>;
  setLatency(latency: Partial<Latencies>): void;
  close(): Promise<void>;
}

export const CREDENTIALS_SECRET_ID = 'bench/huawei-credentials';
export const WEBHOOK_SECRET_ID = 'bench/webhook-signing-key';
export const IAM_USER = {
  domainName: 'bench-domain',
  userName: 'bench-upgrader',
  password: 'bench-Pa55w0rd',
};
/** A token the TaurusDB stand-in accepts without IAM: the bare loop's. */
export const BARE_TOKEN = 'MIIT-bench-bare-loop-token';

export type StandInsRequest = { id: number; op: 'counts' | 'close' };

/**
 * Every service the function calls: the test suite's stand-ins, in a child process
 * (bench/upstreams-process.ts) so that their CPU and garbage stay off the thread and heap the handler
 * is measured on, as a real upstream's would. TaurusDB, EventBridge and DynamoDB are reached through
 * latency proxies in this process: each answer leaves the proxy exactly its latency after the request
 * arrived, so the stand-ins' own time and the hop to the child process are hidden in that latency
 * (an answer that takes longer is counted as late).
 */
export async function startUpstreams(latency: Latencies): Promise<Upstreams> {
  const child: ChildProcess = fork(new URL('./upstreams-process.ts', import.meta.url), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (result: unknown) => void>();
  let nextId = 0;
  const ready = await new Promise<StandInsReady>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`bench stand-ins exited with ${code} before starting`)));
    child.on('message', (message: { ready?: StandInsReady; id?: number; result?: unknown }) => {
      if (message.ready) resolve(message.ready);
      else if (message.id !== undefined) {
        pending.get(message.id)?.(message.result);
        pending.delete(message.id);
      }
    });
  });
  child.removeAllListeners('exit');
  child.removeAllListeners('error');
  const ask = <T>(op: StandInsRequest['op']) =>
    new Promise<T>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve as (result: unknown) => void);
      child.send({ id, op } satisfies StandInsRequest);
    });

  const proxies: Record<keyof Latencies, LatencyProxy> = {
    taurusDb: await startLatencyProxy({ port: ready.ports.taurusDb, latencyMs: latency.taurusDb }),
    eventBridge: await startLatencyProxy({ port: ready.ports.eventBridge, latencyMs: latency.eventBridge }),
    dynamoDb: await startLatencyProxy({ port: ready.ports.dynamoDb, latencyMs: latency.dynamoDb }),
  };

  return {
    taurusDb: proxies.taurusDb.url,
    eventBridge: proxies.eventBridge.url,
    dynamoDb: proxies.dynamoDb.url,
    secretsManager: ready.secretsManager,
    iam: ready.iam,
    tableName: ready.tableName,
    webhookKey: ready.webhookKey,
    tally() {
      let requests = 0;
      let injectedMs = 0;
      for (const proxy of Object.values(proxies)) {
        requests += proxy.requests.length;
        injectedMs += proxy.injectedMs();
      }
      return { requests, injectedMs };
    },
    timeline(from, to) {
      const calls: TimedCall[] = [];
      for (const proxy of Object.values(proxies)) {
        for (let index = proxy.requests.length - 1; index >= 0; index -= 1) {
          const request = proxy.requests[index] as ProxiedRequest;
          if (request.arrivedAt < from) break;
          if (request.arrivedAt <= to) {
            calls.push({
              label: labelOf(request),
              arrivedAt: request.arrivedAt,
              answeredAt: request.answeredAt,
            });
          }
        }
      }
      return calls.sort((a, b) => a.arrivedAt - b.arrivedAt);
    },
    async counts() {
      const standIns = await ask<StandInCounts>('counts');
      const operations: Record<string, number> = {};
      for (const { target } of proxies.dynamoDb.requests) {
        // DynamoDB's JSON protocol names the operation in X-Amz-Target: DynamoDB_20120810.PutItem.
        const operation = target?.replace(/^DynamoDB_\d+\./, '') ?? 'unknown';
        operations[operation] = (operations[operation] ?? 0) + 1;
      }
      const seen = (proxy: LatencyProxy) => ({ connections: proxy.connections(), late: proxy.late() });
      return {
        taurusDb: { ...standIns.taurusDb, ...seen(proxies.taurusDb) },
        eventBridge: { ...standIns.eventBridge, ...seen(proxies.eventBridge) },
        dynamoDb: { operations, calls: proxies.dynamoDb.requests.length, ...seen(proxies.dynamoDb) },
        secretsManager: standIns.secretsManager,
        iam: standIns.iam,
      };
    },
    setLatency(changed) {
      for (const [name, ms] of Object.entries(changed) as Array<[keyof Latencies, number]>) {
        proxies[name].latencyMs = ms;
      }
    },
    async close() {
      await Promise.all(Object.values(proxies).map((proxy) => proxy.close()));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await ask('close');
      await exited;
    },
  };
}

/** A short name for a request: the AWS operation, or TaurusDB's method and route. */
function labelOf(request: ProxiedRequest): string {
  if (request.target) return request.target.replace(/^[A-Za-z_]+(?:_\d+)?\./, '');
  const [method = '', path = ''] = request.line.split(' ');
  if (path.endsWith('/upgrade-version')) return `${method} upgrade`;
  if (path.endsWith('/proxy-version')) return `${method} version`;
  return `${method} ${path.split('?')[0]?.split('/').at(-1) ?? ''}`;
}
