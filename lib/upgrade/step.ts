import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { StepGuard } from '../aws/idempotency.ts';
import type { DeferralScheduler } from '../aws/scheduler.ts';
import type { SendingClaim } from '../aws/step-records.ts';
import { UpstreamError } from '../errors.ts';
import { UNCONFIRMED_REASON } from '../events/detail-types.ts';
import type {
  InstanceDetail,
  ListedProxy,
  ProxyAdvisory,
  ProxyRef,
  ProxyVersion,
  UpgradeCall,
  UpgradeResponse,
} from '../huawei/taurusdb-client.ts';
import {
  type DeferralPlan,
  type DeferralSettings,
  isBusyRefusal,
  type NextAttempt,
  nextAttempt,
  planDeferral,
  retryForOf,
} from './deferral.ts';
import { ERROR_CODES, mayMeanAlreadyLatest } from './error-codes.ts';
import type { FailedOutcome, OutcomeError, OutcomeRecord, StepOutcome, TargetOutcome } from './outcome.ts';
import { failureOf } from './outcome-failure.ts';
import type { UpgradeRequest } from './request.ts';
import type { TriggerInfo } from './trigger.ts';
import {
  compareVersions,
  decideUpgrade,
  isVersion,
  type ProxyVersions,
  type ResolvedVersions,
  type UpgradeDecision,
} from './versions.ts';

export interface UpgradeClient {
  upgradeProxyVersion(call: UpgradeCall, signal?: AbortSignal): Promise<UpgradeResponse>;
  getProxyVersion(proxy: ProxyRef, signal?: AbortSignal): Promise<ProxyVersion>;
  listProxies(instance: Omit<ProxyRef, 'proxyId'>, signal?: AbortSignal): Promise<ListedProxy[]>;
  getInstance(instance: Omit<ProxyRef, 'proxyId'>, signal?: AbortSignal): Promise<InstanceDetail>;
  /** Starts the project's authorisation (secret read, IAM exchange) without waiting for it. */
  prepare?(projectId: string): void;
}

export interface UpgradeStepOptions {
  client: UpgradeClient;
  now: () => Date;
  metrics: Pick<Metrics, 'addMetric'>;
  /**
   * How busy targets are retried later; without a scheduler a busy target fails at once, unless it is
   * a rollout's (its loop runs the next attempt).
   */
  deferrals?: { scheduler: DeferralScheduler | undefined; settings: DeferralSettings } | undefined;
}

type Context = { versions?: ProxyVersions; resolved: ResolvedVersions; advisory?: ProxyAdvisory };

/** The target the step runs for: the request and the trigger it came with. */
export interface StepTarget {
  request: UpgradeRequest;
  trigger: TriggerInfo;
  /**
   * Another proxy of the same instance that this delivery is upgrading: TaurusDB runs one operation
   * per instance, so an upgrade of this one would only earn a busy refusal. It is deferred instead.
   */
  waitFor?: string | undefined;
}

export function proxyRef(request: UpgradeRequest): ProxyRef {
  if (request.proxy_id === undefined) throw new TypeError('a proxy call needs proxy_id');
  return {
    projectId: request.project_id,
    instanceId: request.instance_id,
    proxyId: request.proxy_id,
    ...(request.region === undefined ? {} : { region: request.region }),
  };
}

function decided<O extends TargetOutcome>(o: UpgradeStepOptions, outcome: O): OutcomeRecord<O> {
  return { outcome, occurred_at: o.now().toISOString(), upstream_status: null, duration_ms: null };
}

const kept = (record: OutcomeRecord): StepOutcome => ({ record, store: true });
const notKept = (record: OutcomeRecord): StepOutcome => ({ record, store: false });

/** The versions read, or why the read failed: a GET changed nothing, so its failure is not kept. */
type VersionRead =
  | { versions: ProxyVersions; advisory?: ProxyAdvisory }
  | { unread: OutcomeRecord<FailedOutcome> };

async function readVersions(
  o: UpgradeStepOptions,
  request: UpgradeRequest,
  signal: AbortSignal | undefined,
): Promise<VersionRead> {
  let found: ProxyVersion;
  try {
    found = await o.client.getProxyVersion(proxyRef(request), signal);
  } catch (error) {
    const { error: failure } = failureOf(error, 'the version read failed, so no upgrade was attempted: ');
    return {
      unread: {
        ...decided(o, { kind: 'failed', error: failure }),
        upstream_status: error instanceof UpstreamError ? (error.status ?? null) : null,
      },
    };
  }
  // Only dotted numbers can be compared, and only they are safe to repeat in messages and events.
  if (!isVersion(found.current_version) || !isVersion(found.latest_version)) {
    return {
      unread: decided(o, {
        kind: 'failed',
        error: {
          status: 200,
          error_code: ERROR_CODES.unreadableVersion,
          error_msg:
            'the version read answered a current_version or latest_version that is not a dotted version number, so no upgrade was attempted',
        },
      }),
    };
  }
  const { current_version, latest_version, can_upgrade, risk } = found;
  return {
    versions: { current_version, latest_version, can_upgrade },
    ...(risk === undefined ? {} : { advisory: risk }),
  };
}

type Decided =
  | { decision: UpgradeDecision; versions: ProxyVersions | undefined; advisory?: ProxyAdvisory }
  | { unread: OutcomeRecord };

async function decide(
  o: UpgradeStepOptions,
  request: UpgradeRequest,
  signal: AbortSignal | undefined,
): Promise<Decided> {
  if (request.preflight === false) {
    // The request schema requires both versions without the read.
    if (request.source_version === undefined) throw new TypeError('preflight false needs source_version');
    const decision: UpgradeDecision = {
      action: 'upgrade',
      resolved: { source_version: request.source_version, target_version: request.target_version },
    };
    return { decision, versions: undefined };
  }
  const read = await readVersions(o, request, signal);
  if ('unread' in read) return read;
  const { versions, advisory } = read;
  const decision = decideUpgrade(request, versions);
  const advised = { versions, ...(advisory === undefined ? {} : { advisory }) };
  if (request.only_if_advised === true && decision.action === 'upgrade' && advisory === undefined) {
    const reason = `TaurusDB gives no upgrade advisory (risk) for the proxy at ${versions.current_version}, and the request says only_if_advised`;
    return { decision: { action: 'skip', resolved: decision.resolved, reason }, ...advised };
  }
  return { decision, ...advised };
}

async function runStep(
  o: UpgradeStepOptions,
  target: StepTarget,
  signal: AbortSignal | undefined,
  guard: StepGuard,
): Promise<StepOutcome> {
  const { request } = target;
  const made = await decide(o, request, signal);
  if ('unread' in made) return notKept(made.unread);
  const { decision, versions, advisory } = made;
  const context: Context = {
    ...(versions === undefined ? {} : { versions }),
    resolved: decision.resolved,
    ...(advisory === undefined ? {} : { advisory }),
  };
  if (decision.action === 'upgrade') {
    const gated = await windowGate(o, target, context, signal);
    if (gated !== undefined) return gated;
  }
  if (request.dry_run === true) {
    const reason = 'reason' in decision ? { reason: decision.reason } : {};
    return kept(decided(o, { kind: 'planned', would: decision.action, ...reason, ...context }));
  }
  if (decision.action === 'skip') {
    return kept(decided(o, { kind: 'skipped', reason: decision.reason, ...context }));
  }
  if (decision.action === 'refuse') {
    const error = { error_code: ERROR_CODES.versionMismatch, error_msg: decision.reason };
    return kept(decided(o, { kind: 'failed', error, ...context }));
  }
  if (target.waitFor !== undefined) {
    const reason = `waiting for proxy ${target.waitFor} on the same instance ${request.instance_id} (one proxy of an instance is upgraded at a time); nothing was sent`;
    return kept(await defer(o, target, { reason, ...context }, signal));
  }
  const claim = await guard.claimSending(decision.resolved);
  if (!claim.claimed) return kept(await reconcile(o, request, context, claim.earlier, signal));
  return send(o, target, context, guard, signal);
}

async function send(
  o: UpgradeStepOptions,
  target: StepTarget,
  context: Context,
  guard: StepGuard,
  signal: AbortSignal | undefined,
): Promise<StepOutcome> {
  const { request } = target;
  try {
    const response = await o.client.upgradeProxyVersion(
      {
        ...proxyRef(request),
        sourceVersion: context.resolved.source_version,
        targetVersion: context.resolved.target_version,
        language: request.language,
      },
      signal,
    );
    o.metrics.addMetric('UpstreamLatency', 'Milliseconds', response.durationMs);
    return kept({
      outcome: { kind: 'completed', items: response.items, ...context },
      occurred_at: o.now().toISOString(),
      upstream_status: response.status,
      duration_ms: response.durationMs,
    });
  } catch (error) {
    const { error: failure, retryable } = failureOf(error);
    if (isBusyRefusal(failure)) {
      // Nothing ran: the claim goes back first, so that should scheduling fail (a throw, the
      // invocation fails), the sender's retry sends again instead of reconciling.
      await guard.releaseSending();
      const reason = `instance ${request.instance_id} is busy with another operation (${failure.error_code}); nothing ran`;
      return kept(await defer(o, target, { reason, error: failure, ...context }, signal));
    }
    if (mayMeanAlreadyLatest(failure)) {
      const skipped = await alreadyThere(o, request, context, failure, signal);
      if (skipped !== undefined) return kept(skipped);
    }
    const record: OutcomeRecord = {
      outcome: { kind: 'failed', error: failure, ...context },
      occurred_at: o.now().toISOString(),
      upstream_status: error instanceof UpstreamError ? (error.status ?? null) : null,
      duration_ms: null,
    };
    if (!retryable) return kept(record);
    // Nothing reached TaurusDB: give the claim back so that a redelivery sends. Should that fail,
    // the redelivery reconciles instead (Unconfirmed): wrong only in the safe direction.
    await guard.releaseSending();
    return notKept(record);
  }
}

/**
 * A 400 that may mean "nothing to upgrade" (lib/upgrade/error-codes.ts): the version read tells. At or
 * past the target the outcome is Skipped; below it (or unreadable) undefined, and the refusal stands.
 */
async function alreadyThere(
  o: UpgradeStepOptions,
  request: UpgradeRequest,
  context: Context,
  failure: OutcomeError,
  signal: AbortSignal | undefined,
): Promise<OutcomeRecord | undefined> {
  const read = await readVersions(o, request, signal);
  if ('unread' in read) return undefined;
  const { versions } = read;
  if (compareVersions(versions.current_version, context.resolved.target_version) < 0) return undefined;
  const reason = `TaurusDB answered ${failure.error_code} (${failure.error_msg}), and the version read finds the proxy at ${versions.current_version}: nothing to upgrade`;
  const advisory = context.advisory === undefined ? {} : { advisory: context.advisory };
  return decided(o, { kind: 'skipped', reason, versions, resolved: context.resolved, ...advisory });
}

/**
 * `"window": "maintenance"` (README.md "Maintenance windows"): the instance detail decides whether the
 * upgrade goes now (undefined), waits for the window or a busy instance (deferred; a dry run says
 * "would defer"), or cannot go at all (INSTANCE_UNAVAILABLE). A failed read is not kept: it changed
 * nothing, a redelivery reads again.
 */
async function windowGate(
  o: UpgradeStepOptions,
  target: StepTarget,
  context: Context,
  signal: AbortSignal | undefined,
): Promise<StepOutcome | undefined> {
  const { request } = target;
  if (request.window !== 'maintenance') return undefined;
  const { projectId, instanceId, region } = proxyRef(request);
  let detail: InstanceDetail;
  try {
    detail = await o.client.getInstance({ projectId, instanceId, ...(region ? { region } : {}) }, signal);
  } catch (error) {
    const why = 'the instance could not be read for its maintenance window, so no upgrade was attempted: ';
    const { error: failure } = failureOf(error, why);
    return notKept(decided(o, { kind: 'failed', error: failure, ...context }));
  }
  // Loaded only when a request names the window: its own chunk (docs/performance.md, "Cold start").
  const { judgeInstance } = await import('./window.ts');
  const verdict = judgeInstance(request.instance_id, detail, o.now());
  if (verdict.go) return undefined;
  const dryRun = request.dry_run === true;
  if (verdict.kind === 'unavailable') {
    if (dryRun)
      return kept(decided(o, { kind: 'planned', would: 'refuse', reason: verdict.reason, ...context }));
    const error = { error_code: ERROR_CODES.instanceUnavailable, error_msg: verdict.reason };
    return kept(decided(o, { kind: 'failed', error, ...context }));
  }
  const opensAt = verdict.kind === 'closed' ? verdict.opensAt : undefined;
  if (dryRun) return kept(decided(o, dryRunDeferral(o, target, verdict.reason, opensAt, context)));
  const at = opensAt === undefined ? {} : { opensAt };
  return kept(await defer(o, target, { reason: verdict.reason, ...context, ...at }, signal));
}

/**
 * What a dry run predicts for a busy instance or a closed window: by the same rule as the real run
 * (retryPlan), so with deferred attempts off, or busy_retry_for spent, it says the upgrade would fail.
 */
function dryRunDeferral(
  o: UpgradeStepOptions,
  target: StepTarget,
  reason: string,
  opensAt: Date | undefined,
  context: Context,
): TargetOutcome {
  const retry = retryPlan(o, target, o.now(), opensAt);
  if (retry === undefined || !retry.next.defer) {
    const ending =
      retry === undefined
        ? 'deferred attempts are off (DEFERRAL_SCHEDULE_GROUP is not set)'
        : `busy_retry_for ends at ${retry.next.deadline.toISOString()}, before another attempt could run`;
    return {
      kind: 'planned',
      would: 'refuse',
      reason: `would fail INSTANCE_BUSY: ${reason}; ${ending}`,
      ...context,
    };
  }
  const until =
    opensAt === undefined
      ? 'would defer while the instance is busy'
      : `would defer until ${opensAt.toISOString()}`;
  return { kind: 'planned', would: 'defer', reason: `${until}: ${reason}`, ...context };
}

type Why = {
  reason: string;
  error?: OutcomeError;
  versions?: ProxyVersions;
  resolved?: ResolvedVersions;
  advisory?: ProxyAdvisory;
  /** A maintenance window's opening: the attempt runs then, and the busy deadline counts from there. */
  opensAt?: Date;
};

/**
 * Who runs a busy target's next attempt, and when: inside a rollout its loop (lib/rollouts/advance.ts
 * retries the target with a new attempt at next_attempt_at; one driver per target, no schedule),
 * else a one-time Scheduler schedule. Both follow the one rule of lib/upgrade/deferral.ts
 * (nextAttempt); undefined when nobody would: deferred attempts are off.
 */
function retryPlan(
  o: UpgradeStepOptions,
  target: StepTarget,
  now: Date,
  opensAt: Date | undefined,
):
  | { by: 'rollout'; next: NextAttempt }
  | { by: 'scheduler'; next: DeferralPlan; scheduler: DeferralScheduler }
  | undefined {
  const settings = o.deferrals?.settings;
  if (settings === undefined) return undefined;
  const { rolloutRetry } = target.trigger;
  if (target.trigger.kind === 'rollout' && rolloutRetry !== undefined) {
    const retryFor = retryForOf(target.request, settings);
    return { by: 'rollout', next: nextAttempt(rolloutRetry, retryFor, settings.backoff, now, opensAt) };
  }
  const scheduler = o.deferrals?.scheduler;
  if (scheduler === undefined) return undefined;
  const next = planDeferral(target.request, target.trigger, settings, now, opensAt);
  return { by: 'scheduler', next, scheduler };
}

/**
 * The target runs again later: a one-time schedule delivers the next attempt (lib/upgrade/deferral.ts),
 * or inside a rollout its loop runs it; unless busy_retry_for ends first or deferred attempts are off,
 * then it fails with INSTANCE_BUSY. A schedule that cannot be created throws (DeferralError): nothing
 * is stored and the invocation fails.
 */
export async function defer(
  o: UpgradeStepOptions,
  target: StepTarget,
  why: Why,
  signal: AbortSignal | undefined,
): Promise<OutcomeRecord> {
  const { reason, error, opensAt, ...context } = why;
  // One clock reading: the deadline counts from the moment the outcome is dated.
  const now = o.now();
  const record = (outcome: TargetOutcome): OutcomeRecord => ({
    outcome,
    occurred_at: now.toISOString(),
    upstream_status: error?.status ?? null,
    duration_ms: null,
  });
  const retry = retryPlan(o, target, now, opensAt);
  const rollout = `rollout ${target.trigger.rollout_id ?? ''}`;
  if (retry === undefined || !retry.next.defer) {
    const cause =
      error === undefined ? '' : ` (${[error.error_code, error.error_msg].filter(Boolean).join(': ')})`;
    const until = retry?.next.deadline.toISOString();
    let ending = `busy_retry_for ends at ${until}, before another attempt could run`;
    if (retry === undefined) ending = 'deferred attempts are off (DEFERRAL_SCHEDULE_GROUP is not set)';
    else if (retry.by === 'rollout')
      ending = `${rollout} retried it until BUSY_RETRY_FOR ends at ${until}, before another attempt could run`;
    const failure = {
      ...(error?.status === undefined ? {} : { status: error.status }),
      error_code: ERROR_CODES.instanceBusy,
      error_msg: `${reason}${cause}; ${ending}`,
    };
    return record({ kind: 'failed', error: failure, ...context });
  }
  const { next } = retry;
  const at = next.at.toISOString();
  let runs = `${rollout} runs attempt ${next.attempt} at ${at}`;
  let schedule: { schedule_name?: string } = {};
  if (retry.by === 'scheduler' && retry.next.defer) {
    const { name, input } = retry.next;
    await retry.scheduler.schedule({ name, at: next.at, input }, signal);
    o.metrics.addMetric('DeferredAttemptScheduled', 'Count', 1);
    runs = `attempt ${next.attempt} runs at ${at}`;
    schedule = { schedule_name: name };
  }
  return record({
    kind: 'deferred',
    reason: `${reason}; ${runs}`,
    ...(error === undefined ? {} : { error }),
    attempt: next.attempt,
    next_attempt_at: at,
    deadline: next.deadline.toISOString(),
    ...schedule,
    ...context,
  });
}

/**
 * An earlier attempt claimed this step and may have sent its POST. The proxy version tells whether
 * that upgrade happened; while the proxy still reports an older version the upgrade may be running
 * (TaurusDB reports the source version until it ends), so the outcome is Unconfirmed, never a
 * second POST. The version read just made for the decision is reused when there was one.
 */
async function reconcile(
  o: UpgradeStepOptions,
  request: UpgradeRequest,
  context: Context,
  earlier: SendingClaim,
  signal: AbortSignal | undefined,
): Promise<OutcomeRecord> {
  o.metrics.addMetric('Reconciled', 'Count', 1);
  const resolved = { source_version: earlier.source_version, target_version: earlier.target_version };
  let versions = context.versions;
  let readError: string | undefined;
  if (versions === undefined) {
    const read = await readVersions(o, request, signal);
    if ('unread' in read) readError = read.unread.outcome.error.error_msg;
    else versions = read.versions;
  }
  if (versions !== undefined && compareVersions(versions.current_version, resolved.target_version) >= 0) {
    const reason = `proxy is already at ${versions.current_version}: an earlier attempt of this delivery upgraded it`;
    return decided(o, { kind: 'skipped', reason, versions, resolved });
  }
  return decided(o, {
    kind: 'unconfirmed',
    sending_at: earlier.sending_at,
    reason: `${UNCONFIRMED_REASON} (the earlier attempt was sending it at ${earlier.sending_at})`,
    ...(versions === undefined ? {} : { versions }),
    ...(readError === undefined ? {} : { read_error: readError }),
    resolved,
  });
}

/**
 * The whole step for one proxy: read, decide, and upgrade unless the decision or a dry run says not
 * to. It throws only for faults (the store down, a bug); every outcome, kept or not, is returned. The
 * upgrade POST is sent only by the attempt that claimed the step's sending record; any other
 * attempt (a redelivery after a crash, a timeout, a lost completion write, an expired window)
 * reconciles instead and never sends a second POST.
 */
export function createUpgradeStep(options: UpgradeStepOptions) {
  return {
    run: (target: StepTarget, signal: AbortSignal | undefined, guard: StepGuard) =>
      runStep(options, target, signal, guard),
  };
}

export type UpgradeStep = ReturnType<typeof createUpgradeStep>;
