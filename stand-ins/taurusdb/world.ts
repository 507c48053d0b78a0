import { randomUUID } from 'node:crypto';
import type { Route } from './gateway.ts';
import {
  createJobs,
  type Jobs,
  jobAnswer,
  runningOn,
  settle,
  startWorkflow,
  type Workflow,
  type WorkflowOptions,
} from './jobs.ts';
import { replies, type TaurusDbReply } from './replies.ts';
import { parameterError } from './upgrade-request.ts';
import { compareVersions } from './versions.ts';

/**
 * What TaurusDB knows: proxies with their kernel versions, the proxy lists of instances, and jobs.
 *
 * An open world (no `proxies` given) has every proxy a test names, at 2.23.12.000 with 2.24.03.000
 * the latest, unless `setProxyVersion` says otherwise; an instance lists what `setProxies` gave it,
 * else nothing. A closed world (`proxies` given) has only those.
 *
 * Where Huawei's API reference documents no code for a case the stand-in picks one: 404 DBS.200002
 * (DBS's "does not exist" code) for an unknown proxy or instance, and a REJECT item (HTTP 200) for a
 * source version that is not the current one, a target not newer than the source or newer than the
 * latest, and a proxy with an upgrade still running. Documented and reproduced: 400 DBS.05000008 when
 * the proxy already runs the latest version.
 */

export const DEFAULT_CURRENT_VERSION = '2.23.12.000';
export const DEFAULT_LATEST_VERSION = '2.24.03.000';

/** The part of `GET /v3/{project_id}/instances/{instance_id}` the function reads. */
export interface InstanceState {
  /** ACTIVE, BACKING UP, MODIFYING, REBOOTING, FROZEN, FAILED, STORAGE FULL, ... */
  status: string;
  /** UTC, "HH:MM-HH:MM", possibly crossing midnight. */
  maintenance_window: string;
}

export const DEFAULT_INSTANCE: InstanceState = { status: 'ACTIVE', maintenance_window: '18:00-22:00' };

export interface ProxySeed {
  projectId: string;
  instanceId: string;
  proxyId: string;
  version: string;
  /** Shown in the proxy list; defaults to `proxy-<first 8 characters of the id>`. */
  name?: string;
}

/** What `GET .../taurusproxy/proxy-version` answers. */
export interface ProxyVersionState {
  current_version: string;
  latest_version: string;
  can_upgrade: boolean;
  /**
   * Huawei's upgrade advisory, answered as given (since December 2025 the version answer may carry
   * it: ProxyEngineRisk in Huawei's SDK models: level, suggest, influence, guidance,
   * service_impact_duration, upgrade_duration).
   */
  risk?: Record<string, unknown>;
}

/** A proxy as the world has it now. */
export interface ProxySnapshot {
  /** Undefined for a proxy of an open world, which exists in every project. */
  projectId: string | undefined;
  instanceId: string;
  proxyId: string;
  name: string | undefined;
  version: string;
}

interface ProxyRecord extends ProxySnapshot {
  /** Set by `setProxyVersion`: the answer as given rather than derived from the state. */
  latestVersion?: string;
  canUpgrade?: boolean;
  risk?: Record<string, unknown> | undefined;
}

export interface WorldOptions {
  /** The proxies that exist; omitted: an open world (see above). */
  proxies?: ProxySeed[];
  /** Default 2.24.03.000. */
  latestVersion?: string;
  /**
   * Accepted upgrades become workflows that are judged against the proxy's version, run for a
   * duration and then move it. Omitted: a well-formed upgrade gets the API reference's example
   * ACCEPT answer and nothing moves.
   */
  workflows?: WorkflowOptions;
  /** Epoch milliseconds; workflows are settled against it on every request. */
  now?: () => number;
  /**
   * With workflows on: until this time (epoch ms) every instance is busy with another operation, and
   * upgrades get TaurusDB's busy refusal (409 DBS.201205, a backup in progress; `npm start` with
   * SANDBOX_BUSY_FOR shows the deferral). After it, an instance is busy while one of its proxies'
   * workflows runs: an upgrade of another of its proxies gets the same refusal.
   */
  busyUntil?: number;
  newWorkflowId?: () => string;
}

/** One well-formed, authorised upgrade request. */
export interface UpgradeAsk {
  projectId: string;
  instanceId: string;
  proxyId: string;
  sourceVersion: string;
  targetVersion: string;
}

type Resolved = { proxy: ProxyRecord } | { refused: TaurusDbReply };

/** The world's state; the functions below read and change it. */
export interface World {
  latestVersion: string;
  closed: boolean;
  /** By `instance/proxy`. */
  records: Map<string, ProxyRecord>;
  /** Proxy ids by instance, as its list shows them (a test may repeat one). */
  listings: Map<string, string[]>;
  /** What instance detail answers per instance (default: ACTIVE, window 18:00-22:00). */
  instances: Map<string, InstanceState>;
  busyUntil: number | undefined;
  now: () => number;
  jobs: Jobs;
  /**
   * Upgrades refused busy because a workflow of this stand-in still ran on the instance: refusals
   * the callers caused themselves, as opposed to `busyUntil`'s operation of somebody else.
   */
  concurrencyRefusals: number;
}

const notFound = (what: string) => replies.error(404, 'DBS.200002', `The ${what} does not exist.`);
const key = (instanceId: string, proxyId: string) => `${instanceId}/${proxyId}`;
const latestOf = (world: World, proxy: ProxyRecord) => proxy.latestVersion ?? world.latestVersion;

export function createWorld(options: WorldOptions): World {
  const records = new Map<string, ProxyRecord>();
  const listings = new Map<string, string[]>();
  for (const seed of options.proxies ?? []) {
    records.set(key(seed.instanceId, seed.proxyId), {
      ...seed,
      name: seed.name ?? `proxy-${seed.proxyId.slice(0, 8)}`,
    });
    listings.set(seed.instanceId, [...(listings.get(seed.instanceId) ?? []), seed.proxyId]);
  }
  const jobs = createJobs({
    workflows: options.workflows,
    now: options.now ?? Date.now,
    newWorkflowId: options.newWorkflowId ?? randomUUID,
    onCompleted: (workflow: Workflow) => {
      const proxy = records.get(key(workflow.instanceId, workflow.proxyId));
      if (proxy) proxy.version = workflow.targetVersion;
    },
  });
  return {
    latestVersion: options.latestVersion ?? DEFAULT_LATEST_VERSION,
    closed: options.proxies !== undefined,
    records,
    listings,
    instances: new Map(),
    busyUntil: options.busyUntil,
    now: options.now ?? Date.now,
    jobs,
    concurrencyRefusals: 0,
  };
}

function find(world: World, projectId: string, instanceId: string, proxyId: string): ProxyRecord | undefined {
  const proxy = world.records.get(key(instanceId, proxyId));
  return proxy && (proxy.projectId === undefined || proxy.projectId === projectId) ? proxy : undefined;
}

/**
 * The proxy, or the 404 a closed world answers for one it does not have. An open world answers the
 * default version for a proxy it has not met; `keep` makes it one (an upgrade is about to move it).
 */
function resolve(
  world: World,
  [projectId = '', instanceId = '', proxyId = '']: string[],
  keep = false,
): Resolved {
  const proxy = find(world, projectId, instanceId, proxyId);
  if (proxy) return { proxy };
  if (world.closed) {
    const instanceKnown = [...world.records.values()].some(
      (each) => each.instanceId === instanceId && each.projectId === projectId,
    );
    return { refused: notFound(instanceKnown ? 'proxy instance' : 'DB instance') };
  }
  const met: ProxyRecord = {
    projectId: undefined,
    instanceId,
    proxyId,
    name: undefined,
    version: DEFAULT_CURRENT_VERSION,
  };
  if (keep) world.records.set(key(instanceId, proxyId), met);
  return { proxy: met };
}

function versionAnswer(world: World, ids: string[]): TaurusDbReply {
  const resolved = resolve(world, ids);
  if ('refused' in resolved) return resolved.refused;
  const { proxy } = resolved;
  const latest = latestOf(world, proxy);
  const canUpgrade =
    proxy.canUpgrade ??
    (compareVersions(proxy.version, latest) < 0 && !runningOn(world.jobs, proxy.instanceId, proxy.proxyId));
  const body = { current_version: proxy.version, latest_version: latest, can_upgrade: canUpgrade };
  return { body: proxy.risk === undefined ? body : { ...body, risk: proxy.risk } };
}

function listAnswer(world: World, [projectId = '', instanceId = '']: string[], query: URLSearchParams) {
  const offset = Number(query.get('offset') ?? 0);
  const limit = Number(query.get('limit') ?? 100);
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 1 || limit > 100) {
    return parameterError('offset must be a whole number from 0, limit from 1 to 100');
  }
  const ids = (world.listings.get(instanceId) ?? []).filter(
    (proxyId) => !world.closed || find(world, projectId, instanceId, proxyId),
  );
  if (world.closed && ids.length === 0) return notFound('DB instance');
  const page = ids.slice(offset, offset + limit).map((proxyId, index) => ({
    proxy: {
      pool_id: proxyId,
      name: find(world, projectId, instanceId, proxyId)?.name ?? `proxy-${offset + index + 1}`,
      status: runningOn(world.jobs, instanceId, proxyId) ? 'UPGRADING' : 'ACTIVE',
      port: 3306,
    },
  }));
  return { body: { proxy_list: page, total_count: ids.length } };
}

/** What the world answers a read API with (the job of a query without an id: 400). */
export function readAnswer(world: World, route: Route): TaurusDbReply {
  settle(world.jobs);
  if (route.name === 'version') return versionAnswer(world, route.ids);
  if (route.name === 'proxies') return listAnswer(world, route.ids, route.query);
  if (route.name === 'instance') {
    const [, instanceId = ''] = route.ids;
    const state = world.instances.get(instanceId) ?? DEFAULT_INSTANCE;
    return { body: { instance: { id: instanceId, name: `instance-${instanceId.slice(0, 8)}`, ...state } } };
  }
  return jobAnswer(world.jobs, route.ids[0] ?? '', route.query) ?? parameterError('id is required');
}

/** Why TaurusDB would not start this upgrade, as a REJECT item's error_message; undefined to accept. */
function rejection(world: World, proxy: ProxyRecord, source: string, target: string): string | undefined {
  const running = runningOn(world.jobs, proxy.instanceId, proxy.proxyId);
  if (running)
    return `The proxy is being upgraded by workflow ${running.id}; try again when it has finished.`;
  if (compareVersions(source, proxy.version) !== 0)
    return `The source version ${source} does not match the current version ${proxy.version} of the proxy.`;
  if (compareVersions(target, source) <= 0)
    return `The target version ${target} must be newer than the source version ${source}.`;
  const latest = latestOf(world, proxy);
  if (compareVersions(target, latest) > 0)
    return `The target version ${target} is not available; the latest version is ${latest}.`;
  return undefined;
}

/** The answer of a workflow world to a well-formed upgrade; undefined when workflows are off. */
export function upgradeAnswer(world: World, ask: UpgradeAsk): TaurusDbReply | undefined {
  if (!world.jobs.workflowsOn) return undefined;
  settle(world.jobs);
  const resolved = resolve(world, [ask.projectId, ask.instanceId, ask.proxyId], true);
  if ('refused' in resolved) return resolved.refused;
  const { proxy } = resolved;
  if (world.busyUntil !== undefined && world.now() < world.busyUntil) return replies.busy();
  if (compareVersions(proxy.version, latestOf(world, proxy)) >= 0) return replies.alreadyLatest();
  // TaurusDB runs one operation per instance: another proxy's workflow still running there makes
  // this one busy (the same proxy's is a REJECT below, as before).
  const running = runningOn(world.jobs, proxy.instanceId);
  if (running !== undefined && running.proxyId !== proxy.proxyId) {
    world.concurrencyRefusals += 1;
    return replies.busy();
  }
  const reason = rejection(world, proxy, ask.sourceVersion, ask.targetVersion);
  const workflow = startWorkflow(world.jobs, { ...ask, rejection: reason });
  return replies.items({
    instance_id: proxy.instanceId,
    workflow_id: workflow.id,
    state: reason === undefined ? 'ACCEPT' : 'REJECT',
    error_message: reason ?? null,
  });
}

/** The proxy's current version, workflows settled; undefined for one the world does not have. */
export function versionOf(world: World, projectId: string, instanceId: string, proxyId: string) {
  settle(world.jobs);
  return find(world, projectId, instanceId, proxyId)?.version;
}

export function proxiesOf(world: World): ProxySnapshot[] {
  settle(world.jobs);
  return [...world.records.values()].map(({ projectId, instanceId, proxyId, name, version }) => ({
    projectId,
    instanceId,
    proxyId,
    name,
    version,
  }));
}

/** What a test says the version API answers for a proxy, as given rather than derived. */
export function setProxyVersion(world: World, instanceId: string, proxyId: string, state: ProxyVersionState) {
  const proxy = world.records.get(key(instanceId, proxyId));
  world.records.set(key(instanceId, proxyId), {
    projectId: proxy?.projectId,
    instanceId,
    proxyId,
    name: proxy?.name,
    version: state.current_version,
    latestVersion: state.latest_version,
    canUpgrade: state.can_upgrade,
    risk: state.risk,
  });
}
