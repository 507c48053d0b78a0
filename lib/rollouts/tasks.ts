import { createHash } from 'node:crypto';
import type { RolloutExecutions } from '../aws/executions.ts';
import type { RolloutStore } from '../aws/rollout-store.ts';
import { mapWithConcurrency } from '../concurrency.ts';
import { RolloutConflictError, RolloutServiceError } from '../errors.ts';
import { canonicalJson } from '../events/event-id.ts';
import type { ControlAction } from '../http/routes.ts';
import type { ListedProxy, ProxyRef } from '../huawei/taurusdb-api.ts';
import { decideUpgrade, isVersion, type ProxyVersions } from '../upgrade/versions.ts';
import { type AdvanceCollaborators, advanceRollout, type TickAnswer } from './advance.ts';
import { controlRollout, loadRollout, statusOf } from './control.ts';
import { type Candidate, MAX_PLANNED_TARGETS, planRollout, targetKey } from './plan.ts';
import { plannedRecord, type RolloutRecord, requestedRecord } from './record.ts';
import type { RolloutRequest } from './request.ts';

/**
 * The state machine's tasks and the request intake (functions/rollouts.ts wires them):
 * - `accept`: a valid request becomes a `planning` record (conditional create, the first guard) and
 *   generation 0 of its execution (the name, the second guard). A redelivery of the same request
 *   finds both and answers the rollout's status; another request under the same id is a 409.
 * - `plan` (the machine's first state): lists all_proxies instances, reads every proxy's version and
 *   plans the waves; a no-op on a record past `planning`, so a re-run or a later generation skips it.
 * - `advance`: one tick (lib/rollouts/advance.ts). Each execution runs at most `maxTicks` of them;
 *   then, unless the rollout is done, it starts the next generation and ends (continue-as-new), so no
 *   execution's history nears Step Functions' 25,000 events.
 * - `control`: the control calls; `resume` also restarts a rollout whose latest execution ended.
 */

export interface ExecutionInput {
  rollout_id: string;
  generation: number;
  ticks: number;
}

export interface TickOutput extends TickAnswer, ExecutionInput {
  /** The Wait state's seconds before the next tick. */
  wait_seconds: number;
  /** This execution handed over to the next generation and ends. */
  continued: boolean;
}

export interface FleetReader {
  listProxies(instance: Omit<ProxyRef, 'proxyId'>, signal?: AbortSignal): Promise<ListedProxy[]>;
  getProxyVersion(proxy: ProxyRef, signal?: AbortSignal): Promise<ProxyVersions & { advisory?: unknown }>;
}

export interface RolloutTaskOptions {
  store: RolloutStore;
  executions: RolloutExecutions;
  fleet: FleetReader;
  /** The tick's collaborators for one record (the upgrade step and the poller bound to it). */
  tickCollaborators(record: RolloutRecord): Omit<AdvanceCollaborators, 'save'>;
  tickSeconds: number;
  maxTicks: number;
  readConcurrency: number;
  /** The control calls' clock (an approval's time starts its soak); the ticks' own is in tickCollaborators. */
  now?: () => Date;
}

export const requestDigest = (request: RolloutRequest) =>
  createHash('sha256').update(canonicalJson(request)).digest('hex');

export function createRolloutTasks(o: RolloutTaskOptions) {
  async function load(rolloutId: string): Promise<RolloutRecord> {
    const record = await o.store.get(rolloutId);
    if (record === undefined) throw new RolloutServiceError(`rollout ${rolloutId} has no record`);
    return record;
  }
  /** Generation g named in the record BEFORE it starts, so a resume call always finds the latest. */
  async function startGeneration(rolloutId: string, generation: number): Promise<void> {
    await o.store.claimGeneration(rolloutId, generation);
    await o.executions.start(rolloutId, generation);
  }

  /**
   * `resume` of a rollout that nothing drives any more (its latest execution failed past its
   * retries, timed out, or was stopped by hand: README "Alarms") starts the next generation. The
   * record's revision and its `started` targets make the restarted loop safe: a target a dead tick
   * left started is resumed with the same delivery id. A RUNNING execution is left alone (one driver);
   * an execution that was named but never started (`absent`) is started under its own name.
   */
  async function restartIfUndriven(record: RolloutRecord): Promise<RolloutRecord> {
    const latest = record.generation ?? 0;
    const status = await o.executions.statusOf(record.rollout_id, latest);
    if (status === 'RUNNING') return record;
    if (status === 'absent') await o.executions.start(record.rollout_id, latest);
    else await startGeneration(record.rollout_id, latest + 1);
    return load(record.rollout_id);
  }

  return {
    async accept(request: RolloutRequest): Promise<{ record: RolloutRecord; created: boolean }> {
      const created = (await o.store.create(requestedRecord(request), requestDigest(request))) === 'created';
      // Started on a redelivery too: the earlier attempt may have written the record and died before
      // starting the execution. Its name makes this start nothing twice.
      await o.executions.start(request.rollout_id, 0);
      return { record: await load(request.rollout_id), created };
    },

    status: async (rolloutId: string) => statusOf(await loadRollout(o.store, rolloutId)),
    async control(rolloutId: string, action: ControlAction) {
      const record = await controlRollout(o.store, rolloutId, action, (o.now ?? (() => new Date()))());
      return statusOf(action === 'resume' ? await restartIfUndriven(record) : record);
    },

    async plan(input: ExecutionInput): Promise<ExecutionInput> {
      const record = await load(input.rollout_id);
      if (record.status !== 'planning') return input;
      const candidates = await candidatesOf(record, o.fleet, o.readConcurrency);
      const planned = plannedRecord(record, planRollout(candidates, record.settings));
      if (!(await o.store.save(planned))) {
        throw new RolloutConflictError(`rollout ${record.rollout_id} was planned by another run`);
      }
      return input;
    },

    async advance(input: ExecutionInput): Promise<TickOutput> {
      const record = await load(input.rollout_id);
      const answer = await advanceRollout(record, { ...o.tickCollaborators(record), save: o.store.save });
      const ticks = input.ticks + 1;
      const continued = !answer.done && ticks >= o.maxTicks;
      if (continued) await startGeneration(input.rollout_id, input.generation + 1);
      return { ...answer, ...input, ticks, wait_seconds: o.tickSeconds, continued };
    },
  };
}

/**
 * Every entry as its proxies (an explicit proxy once, even when an all_proxies listing names it
 * too), each with its version read: at or past the target (or, with only_if_advised, without
 * Huawei's advisory) it is planned as skipped. A failed read plans the proxy: its step reads again
 * right before the POST and decides then. A failed listing fails the task, which Step Functions retries.
 */
async function candidatesOf(
  record: RolloutRecord,
  fleet: FleetReader,
  concurrency: number,
): Promise<Candidate[]> {
  const listed = await mapWithConcurrency(record.entries, concurrency, async (entry) => {
    const base = {
      project_id: entry.project_id,
      instance_id: entry.instance_id,
      ...(entry.region ? { region: entry.region } : {}),
    };
    if (entry.proxy_id !== undefined) return [{ ...base, proxy_id: entry.proxy_id }];
    const proxies = await fleet.listProxies({
      projectId: entry.project_id,
      instanceId: entry.instance_id,
      region: entry.region,
    });
    return proxies.map((proxy) => ({ ...base, proxy_id: proxy.proxyId }));
  });
  const unique = new Map(listed.flat().map((proxy) => [targetKey(proxy), proxy]));
  if (unique.size > MAX_PLANNED_TARGETS) {
    throw new RolloutServiceError(
      `rollout ${record.rollout_id} lists ${unique.size} proxies, more than ${MAX_PLANNED_TARGETS}`,
    );
  }
  return mapWithConcurrency([...unique.values()], concurrency, async (proxy) => {
    const skip = await skipReason(record, fleet, proxy).catch(() => undefined);
    return skip === undefined ? proxy : { ...proxy, skip_reason: skip };
  });
}

async function skipReason(
  record: RolloutRecord,
  fleet: FleetReader,
  proxy: Candidate,
): Promise<string | undefined> {
  const found = await fleet.getProxyVersion({
    projectId: proxy.project_id,
    instanceId: proxy.instance_id,
    proxyId: proxy.proxy_id,
    region: proxy.region,
  });
  if (!isVersion(found.current_version) || !isVersion(found.latest_version)) return undefined;
  const { target_version, source_version } = record.settings;
  const decision = decideUpgrade({ target_version, source_version }, found);
  if (decision.action === 'skip') return decision.reason;
  if (record.settings.only_if_advised && found.advisory === undefined)
    return 'Huawei gives no upgrade advisory for this proxy';
  return undefined;
}
