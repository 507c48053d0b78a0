/**
 * What the TaurusDB client offers: its calls, what they take and what they return. The client itself
 * (lib/huawei/taurusdb-client.ts) re-exports every name here, so callers import from there.
 */

export type Language = 'en-us' | 'zh-cn';

/** The most characters of each advisory text kept: it travels in events and answers. */
export const MAX_ADVISORY_TEXT = 1_000;

export interface UpgradeCall {
  projectId: string;
  instanceId: string;
  proxyId: string;
  sourceVersion: string;
  targetVersion: string;
  language?: Language | undefined;
  region?: string | undefined;
}

export interface UpdateResultItem {
  instance_id: string | null;
  workflow_id: string | null;
  state: string | null;
  error_message: string | null;
}

export interface UpgradeResponse {
  status: number;
  items: UpdateResultItem[];
  /** Attempts made, the one after a 401 included. */
  attempts: number;
  durationMs: number;
}

export interface TaurusDbTimeouts {
  connectMs: number;
  headersMs: number;
  /** Longest silence while the answer's body arrives. */
  bodyMs: number;
  retryBudgetMs: number;
}

export interface ProxyRef {
  projectId: string;
  instanceId: string;
  proxyId: string;
  /** The Huawei region whose endpoint serves the call; the default region's when absent. */
  region?: string | undefined;
}

/**
 * Huawei's upgrade advisory (`risk`, ProxyEngineRisk in huaweicloud-sdk-go-v3's gaussdb v3 model): why
 * an upgrade is recommended. `level` 1 is a first-level risk; the rest is free text, each cut to
 * MAX_ADVISORY_TEXT characters. Fields TaurusDB leaves out are null.
 */
export interface ProxyAdvisory {
  level: number | null;
  suggest: string | null;
  influence: string | null;
  guidance: string | null;
  service_impact_duration: string | null;
  upgrade_duration: string | null;
}

/** `GET .../proxy/{proxy_id}/taurusproxy/proxy-version`; `risk` only when TaurusDB gives one. */
export interface ProxyVersion {
  current_version: string;
  latest_version: string;
  can_upgrade: boolean;
  risk?: ProxyAdvisory | undefined;
}

/** One proxy of `GET .../instances/{instance_id}/proxies`: its id is `proxy.pool_id`. */
export interface ListedProxy {
  proxyId: string;
  name: string | null;
  status: string | null;
}

/** `GET /v3/{project_id}/instances/{instance_id}` → `instance`: what a maintenance-window upgrade reads. */
export interface InstanceDetail {
  status: string | null;
  /** UTC, e.g. "18:00-22:00"; may cross midnight. */
  maintenance_window: string | null;
}

/** `GET /v3/{project_id}/jobs?id=` → `job`; status is Pending, Running, Completed or Failed. */
export interface JobStatus {
  id: string;
  name: string | null;
  status: string;
  created: string | null;
  ended: string | null;
  fail_reason: string | null;
}

export interface TaurusDbClient {
  upgradeProxyVersion(call: UpgradeCall, signal?: AbortSignal): Promise<UpgradeResponse>;
  getProxyVersion(proxy: ProxyRef, signal?: AbortSignal): Promise<ProxyVersion>;
  /** Every proxy of the instance, following `offset`/`limit` pages. */
  listProxies(instance: Omit<ProxyRef, 'proxyId'>, signal?: AbortSignal): Promise<ListedProxy[]>;
  getInstance(instance: Omit<ProxyRef, 'proxyId'>, signal?: AbortSignal): Promise<InstanceDetail>;
  /** The job, or undefined while TaurusDB does not know it yet (a new job may take seconds to appear). */
  getJob(
    projectId: string,
    jobId: string,
    signal?: AbortSignal,
    region?: string,
  ): Promise<JobStatus | undefined>;
}
