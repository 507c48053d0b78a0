import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { compareVersions, isVersion } from '../lib/upgrade/versions.ts';
import {
  type LoopbackServer,
  type RecordedRequest,
  sendJson,
  startLoopbackServer,
} from '../stand-ins/loopback-server.ts';

/**
 * A stateful TaurusDB for the local sandbox: proxies keep their kernel version, an accepted upgrade
 * moves it, and a repeated upgrade is refused the way TaurusDB refuses it. The scripted stand-in in
 * test/support answers whatever a test scripts; this one answers what the state dictates.
 *
 * Answers follow the seed (/work/shared/seed, "Upgrading the Kernel Version of a Proxy Instance") and
 * DESIGN.md. Where Huawei documents no code for a case the sandbox picks one, marked "sandbox's choice":
 * - 400 DBS.200001 "Parameter error" for a bad body, Content-Type or X-Language (the generic DBS code);
 * - 404 DBS.200002 for an unknown project, instance or proxy (DBS's "does not exist" code);
 * - a REJECT item (HTTP 200) for a source version that is not the current one, a target that is not
 *   newer than the source or newer than the latest, and a proxy with an upgrade still running.
 * Documented by Huawei and reproduced: 401 APIGW.0301 for a bad token, 404 APIGW.0101 for an unknown
 * API, 400 DBS.05000008 when the proxy already runs the latest version.
 */

export type JobStatus = 'Pending' | 'Running' | 'Completed' | 'Failed';

export interface SandboxProxySeed {
  projectId: string;
  instanceId: string;
  proxyId: string;
  version: string;
  /** Shown in the proxy list; defaults to `proxy-<first 8 characters of the id>`. */
  name?: string;
}

/** One workflow, what `GET /v3/{project_id}/jobs?id=` reports. */
export interface SandboxJob {
  id: string;
  projectId: string;
  instanceId: string;
  proxyId: string;
  sourceVersion: string;
  targetVersion: string;
  status: JobStatus;
  /** Epoch milliseconds. */
  created: number;
  /** When a Running job completes and the proxy takes its target version. */
  completesAt: number;
  ended: number | undefined;
  failReason: string | undefined;
}

/** One request the sandbox answered, for the sandbox's console; the token is never part of it. */
export interface TaurusDbExchange {
  method: string;
  /** Path without the query. */
  path: string;
  status: number;
  answer: unknown;
}

export interface TaurusDbSandboxOptions {
  /** Whether `token` (the X-Auth-Token value) is valid for `projectId`. Tokens are project-scoped. */
  authorize: (token: string, projectId: string) => boolean;
  proxies?: SandboxProxySeed[];
  latestVersion?: string;
  /**
   * How long an accepted upgrade's workflow runs. 0: the version moves at once and the job is born
   * Completed; more: the job is Running and the proxy keeps its version until the time has passed.
   */
  upgradeDurationMs?: number;
  /**
   * When set, every accepted workflow ends Failed with this fail_reason instead of Completed, once
   * its duration has run, and the proxy keeps its version (to watch the tracker report a failure).
   */
  upgradeFailReason?: string;
  /** Epoch milliseconds; jobs are settled against it on every request. */
  now?: () => number;
  newWorkflowId?: () => string;
  onExchange?: (exchange: TaurusDbExchange) => void;
}

export interface TaurusDbSandbox {
  /** Base URL, what TAURUSDB_ENDPOINT is set to. */
  url: string;
  server: LoopbackServer;
  latestVersion: string;
  /** The proxy's current version, after settling finished jobs; undefined for an unknown proxy. */
  versionOf(projectId: string, instanceId: string, proxyId: string): string | undefined;
  /** Every proxy with its current version. */
  proxies(): Array<Required<SandboxProxySeed>>;
  job(workflowId: string): SandboxJob | undefined;
  close(): Promise<void>;
}

/** The ids of the events/ samples, both proxies one version behind the latest. */
export const SAMPLE_PROJECT_ID = '054e292c9880d4992f02c0196d3ea468';
export const SAMPLE_PROXIES: SandboxProxySeed[] = [
  {
    projectId: SAMPLE_PROJECT_ID,
    instanceId: '517ea793ab91438cbfcd9c4b1c958b1ein07',
    proxyId: '0f46fc46396e4fb19a0cb52f578e9511po01',
    version: '2.23.12.000',
  },
  {
    projectId: SAMPLE_PROJECT_ID,
    instanceId: '8a1b2c3d4e5f40718293a4b5c6d7e8f9in07',
    proxyId: 'c0ffee00112233445566778899aabbccpo01',
    version: '2.23.12.000',
  },
];
export const SAMPLE_LATEST_VERSION = '2.24.03.000';

export const defaults = {
  latestVersion: SAMPLE_LATEST_VERSION,
  upgradeDurationMs: 0,
};

const JOB_NAME = 'UpgradeProxyVersion';
const UPGRADE_BODY_KEYS = ['source_version', 'target_version'];
const LANGUAGES = new Set(['en-us', 'zh-cn']);

const routes = {
  upgrade: /^\/v3\/([^/]+)\/instances\/([^/]+)\/proxy\/([^/]+)\/upgrade-version$/,
  proxyVersion: /^\/v3\/([^/]+)\/instances\/([^/]+)\/proxy\/([^/]+)\/taurusproxy\/proxy-version$/,
  proxies: /^\/v3\/([^/]+)\/instances\/([^/]+)\/proxies$/,
  jobs: /^\/v3\/([^/]+)\/jobs$/,
};

interface Answer {
  status: number;
  body: unknown;
}

const dbsError = (status: number, code: string, message: string): Answer => ({
  status,
  body: { error_code: code, error_msg: message },
});

const errors = {
  noApi: (): Answer => ({
    status: 404,
    body: {
      error_code: 'APIGW.0101',
      error_msg: 'The API does not exist or has not been published in the environment',
    },
  }),
  badToken: (reason: string): Answer => ({
    status: 401,
    body: { error_code: 'APIGW.0301', error_msg: `Incorrect IAM authentication information: ${reason}` },
  }),
  parameter: (detail: string) => dbsError(400, 'DBS.200001', `Parameter error: ${detail}`),
  notFound: (what: string) => dbsError(404, 'DBS.200002', `The ${what} does not exist.`),
  alreadyLatest: () => dbsError(400, 'DBS.05000008', 'the current version is the latest'),
};

interface ProxyState extends Required<SandboxProxySeed> {}

function proxyKey(projectId: string, instanceId: string, proxyId: string): string {
  return `${projectId}/${instanceId}/${proxyId}`;
}

/** Huawei's job times: `2018-08-06T10:41:14+0000`. */
function huaweiTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19)}+0000`;
}

function decodeSegments(match: RegExpExecArray): string[] | undefined {
  try {
    return match.slice(1).map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}

function headerOf(request: RecordedRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export async function startTaurusDbSandbox(options: TaurusDbSandboxOptions): Promise<TaurusDbSandbox> {
  const now = options.now ?? Date.now;
  const newWorkflowId = options.newWorkflowId ?? randomUUID;
  const latestVersion = options.latestVersion ?? defaults.latestVersion;
  const upgradeDurationMs = options.upgradeDurationMs ?? defaults.upgradeDurationMs;
  const proxies = new Map<string, ProxyState>();
  for (const seed of options.proxies ?? SAMPLE_PROXIES) {
    proxies.set(proxyKey(seed.projectId, seed.instanceId, seed.proxyId), {
      ...seed,
      name: seed.name ?? `proxy-${seed.proxyId.slice(0, 8)}`,
    });
  }
  const jobs = new Map<string, SandboxJob>();

  /** Jobs move on lazily, on the next look, so no timer outlives the sandbox and tests can move the clock. */
  function settleJobs() {
    const at = now();
    for (const job of jobs.values()) {
      if (job.status !== 'Running' || job.completesAt > at) continue;
      job.ended = job.completesAt;
      if (options.upgradeFailReason !== undefined) {
        job.status = 'Failed';
        job.failReason = options.upgradeFailReason;
        continue;
      }
      job.status = 'Completed';
      const proxy = proxies.get(proxyKey(job.projectId, job.instanceId, job.proxyId));
      if (proxy) proxy.version = job.targetVersion;
    }
  }

  function runningJobOf(proxy: ProxyState): SandboxJob | undefined {
    return [...jobs.values()].find(
      (job) =>
        job.status === 'Running' &&
        job.projectId === proxy.projectId &&
        job.instanceId === proxy.instanceId &&
        job.proxyId === proxy.proxyId,
    );
  }

  function findProxy(projectId: string, instanceId: string, proxyId: string): ProxyState | Answer {
    const proxy = proxies.get(proxyKey(projectId, instanceId, proxyId));
    if (proxy) return proxy;
    const instanceKnown = [...proxies.values()].some(
      (candidate) => candidate.projectId === projectId && candidate.instanceId === instanceId,
    );
    return errors.notFound(instanceKnown ? 'proxy instance' : 'DB instance');
  }

  function readUpgradeBody(request: RecordedRequest): { source: string; target: string } | Answer {
    const contentType = headerOf(request, 'content-type') ?? '';
    if (!/^application\/json\s*(;|$)/i.test(contentType)) {
      return errors.parameter('Content-Type must be application/json');
    }
    const language = headerOf(request, 'x-language');
    if (language !== undefined && !LANGUAGES.has(language)) {
      return errors.parameter('X-Language must be en-us or zh-cn');
    }
    let body: unknown;
    try {
      body = JSON.parse(request.body);
    } catch {
      return errors.parameter('the body is not JSON');
    }
    const keys = typeof body === 'object' && body !== null && !Array.isArray(body) ? Object.keys(body) : [];
    const fields = body as Record<string, unknown>;
    if (
      keys.length !== UPGRADE_BODY_KEYS.length ||
      !UPGRADE_BODY_KEYS.every((key) => keys.includes(key)) ||
      !isVersion(fields.source_version) ||
      !isVersion(fields.target_version)
    ) {
      return errors.parameter('the body must be exactly {"source_version","target_version"}, both versions');
    }
    return { source: fields.source_version, target: fields.target_version };
  }

  function createJob(proxy: ProxyState, source: string, target: string, failReason?: string): SandboxJob {
    const created = now();
    const job: SandboxJob = {
      id: newWorkflowId(),
      projectId: proxy.projectId,
      instanceId: proxy.instanceId,
      proxyId: proxy.proxyId,
      sourceVersion: source,
      targetVersion: target,
      status: failReason === undefined ? 'Running' : 'Failed',
      created,
      completesAt: created + upgradeDurationMs,
      ended: failReason === undefined ? undefined : created,
      failReason,
    };
    jobs.set(job.id, job);
    return job;
  }

  /** Why TaurusDB would not start this upgrade, as a REJECT item's error_message; undefined to accept. */
  function rejection(proxy: ProxyState, source: string, target: string): string | undefined {
    const running = runningJobOf(proxy);
    if (running)
      return `The proxy is being upgraded by workflow ${running.id}; try again when it has finished.`;
    if (compareVersions(source, proxy.version) !== 0) {
      return `The source version ${source} does not match the current version ${proxy.version} of the proxy.`;
    }
    if (compareVersions(target, source) <= 0) {
      return `The target version ${target} must be newer than the source version ${source}.`;
    }
    if (compareVersions(target, latestVersion) > 0) {
      return `The target version ${target} is not available; the latest version is ${latestVersion}.`;
    }
    return undefined;
  }

  function upgrade(request: RecordedRequest, [projectId, instanceId, proxyId]: string[]): Answer {
    if (request.method !== 'POST') return errors.noApi();
    const body = readUpgradeBody(request);
    if ('status' in body) return body;
    const proxy = findProxy(projectId ?? '', instanceId ?? '', proxyId ?? '');
    if ('status' in proxy) return proxy;
    if (compareVersions(proxy.version, latestVersion) >= 0) return errors.alreadyLatest();
    const reason = rejection(proxy, body.source, body.target);
    const job = createJob(proxy, body.source, body.target, reason);
    // A zero-length workflow completes at once, so the answer already reflects the new version.
    settleJobs();
    return {
      status: 200,
      body: {
        update_result: [
          {
            instance_id: proxy.instanceId,
            workflow_id: job.id,
            state: reason === undefined ? 'ACCEPT' : 'REJECT',
            error_message: reason ?? null,
          },
        ],
      },
    };
  }

  function proxyVersion(request: RecordedRequest, [projectId, instanceId, proxyId]: string[]): Answer {
    if (request.method !== 'GET') return errors.noApi();
    const proxy = findProxy(projectId ?? '', instanceId ?? '', proxyId ?? '');
    if ('status' in proxy) return proxy;
    return {
      status: 200,
      body: {
        current_version: proxy.version,
        latest_version: latestVersion,
        can_upgrade: compareVersions(proxy.version, latestVersion) < 0 && !runningJobOf(proxy),
      },
    };
  }

  function proxyList(request: RecordedRequest, [projectId, instanceId]: string[]): Answer {
    if (request.method !== 'GET') return errors.noApi();
    const query = new URL(request.url, 'http://sandbox').searchParams;
    const offset = Number(query.get('offset') ?? 0);
    const limit = Number(query.get('limit') ?? 100);
    if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 1 || limit > 100) {
      return errors.parameter('offset must be a whole number from 0, limit from 1 to 100');
    }
    const ofInstance = [...proxies.values()].filter(
      (proxy) => proxy.projectId === projectId && proxy.instanceId === instanceId,
    );
    if (ofInstance.length === 0) return errors.notFound('DB instance');
    return {
      status: 200,
      body: {
        proxy_list: ofInstance.slice(offset, offset + limit).map((proxy) => ({
          proxy: {
            pool_id: proxy.proxyId,
            name: proxy.name,
            status: runningJobOf(proxy) ? 'UPGRADING' : 'ACTIVE',
            port: 3306,
          },
        })),
        total_count: ofInstance.length,
      },
    };
  }

  function jobInfo(request: RecordedRequest, [projectId]: string[]): Answer {
    if (request.method !== 'GET') return errors.noApi();
    const id = new URL(request.url, 'http://sandbox').searchParams.get('id');
    if (!id) return errors.parameter('id is required');
    const job = jobs.get(id);
    if (!job || job.projectId !== projectId) return errors.notFound('job');
    const done = job.status === 'Completed' || job.status === 'Failed';
    return {
      status: 200,
      body: {
        job: {
          id: job.id,
          name: JOB_NAME,
          status: job.status,
          created: huaweiTime(job.created),
          ended: job.ended === undefined ? '' : huaweiTime(job.ended),
          process: done ? '100' : '50',
          instance: { id: job.instanceId, name: `instance-${job.instanceId.slice(0, 8)}` },
          entities: {
            proxy_id: job.proxyId,
            source_version: job.sourceVersion,
            target_version: job.targetVersion,
          },
          fail_reason: job.failReason ?? '',
        },
      },
    };
  }

  function answer(request: RecordedRequest): Answer {
    const path = request.url.split('?')[0] ?? '';
    const handlers: Array<[RegExp, (request: RecordedRequest, segments: string[]) => Answer]> = [
      [routes.upgrade, upgrade],
      [routes.proxyVersion, proxyVersion],
      [routes.proxies, proxyList],
      [routes.jobs, jobInfo],
    ];
    for (const [pattern, handle] of handlers) {
      const match = pattern.exec(path);
      if (!match) continue;
      const segments = decodeSegments(match);
      if (segments === undefined) return errors.noApi();
      // The gateway checks the token before the service sees the request.
      const token = headerOf(request, 'x-auth-token');
      if (!token) return errors.badToken('token is missing');
      if (!options.authorize(token, segments[0] ?? '')) return errors.badToken('decrypt token fail');
      settleJobs();
      return handle(request, segments);
    }
    return errors.noApi();
  }

  const server = await startLoopbackServer((request, response: ServerResponse) => {
    const { status, body } = answer(request);
    sendJson(response, status, body, { 'x-request-id': randomUUID().replaceAll('-', '') });
    options.onExchange?.({
      method: request.method,
      path: request.url.split('?')[0] ?? '',
      status,
      answer: body,
    });
  });

  return {
    url: server.url,
    server,
    latestVersion,
    versionOf(projectId, instanceId, proxyId) {
      settleJobs();
      return proxies.get(proxyKey(projectId, instanceId, proxyId))?.version;
    },
    proxies() {
      settleJobs();
      return [...proxies.values()].map((proxy) => ({ ...proxy }));
    },
    job(workflowId) {
      settleJobs();
      const job = jobs.get(workflowId);
      return job && { ...job };
    },
    close: () => server.close(),
  };
}
