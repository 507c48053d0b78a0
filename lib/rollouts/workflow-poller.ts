import type { ProxyRef } from '../huawei/taurusdb-api.ts';
import { logger } from '../observability.ts';
import { ERROR_CODES } from '../upgrade/error-codes.ts';
import { compareVersions, isVersion, LATEST, type ProxyVersions } from '../upgrade/versions.ts';
import type { WorkflowState } from './advance.ts';
import type { RolloutRecord, RolloutTarget } from './record.ts';

export interface PollerClient {
  getJob(
    projectId: string,
    jobId: string,
    signal?: AbortSignal,
    region?: string,
  ): Promise<
    { status: string; created: string | null; ended: string | null; fail_reason: string | null } | undefined
  >;
  getProxyVersion(proxy: ProxyRef, signal?: AbortSignal): Promise<ProxyVersions>;
}

/**
 * The tick's one poll of an in-flight target, read-only. Its workflow (GET /v3/{project_id}/jobs?id=)
 * Completed or Failed ends it; anything else, a job not visible yet and a failed read are "not known
 * to be over", as the tracker treats them (lib/tracking/tracker.ts), and the tick's tracking time
 * bounds them. An accepted upgrade without a workflow id is followed by its proxy's version.
 */
export async function pollTarget(
  client: PollerClient,
  record: RolloutRecord,
  target: RolloutTarget,
): Promise<WorkflowState> {
  try {
    if (target.workflow_id) {
      // The job lives in the proxy's region, like the upgrade that started it.
      const job = await client.getJob(target.project_id, target.workflow_id, undefined, target.region);
      const status = job?.status.toLowerCase();
      const finished = job && { created: job.created, ended: job.ended, fail_reason: job.fail_reason };
      if (status === 'completed') return { kind: 'completed', ...(finished ? { job: finished } : {}) };
      if (status === 'failed') {
        return {
          kind: 'failed',
          ...(finished ? { job: finished } : {}),
          error: {
            error_code: ERROR_CODES.jobFailed,
            error_msg: job?.fail_reason || 'the upgrade workflow failed',
          },
        };
      }
      return { kind: 'running' };
    }
    const ref = {
      projectId: target.project_id,
      instanceId: target.instance_id,
      proxyId: target.proxy_id,
      region: target.region,
    };
    const found = await client.getProxyVersion(ref);
    // What the step resolved and POSTed, as the tracker judges it (lib/tracking/tracker.ts): with
    // "latest", a release published mid-rollout must not keep a finished proxy running until it times out.
    const wanted =
      target.resolved?.target_version ??
      (record.settings.target_version === LATEST ? found.latest_version : record.settings.target_version);
    if (
      isVersion(found.current_version) &&
      isVersion(wanted) &&
      compareVersions(found.current_version, wanted) >= 0
    ) {
      return { kind: 'completed' };
    }
    return { kind: 'running' };
  } catch (error) {
    // Logged, not counted: a lasting read failure shows in the log long before the tracking time ends it.
    logger.warn('rollout target could not be polled', {
      rollout_id: record.rollout_id,
      target: target.key,
      error,
    });
    return { kind: 'running' };
  }
}
