import { digest } from '../aws/step-records.ts';
import { canonicalJson } from '../events/event-id.ts';
import { type BackoffOptions, backoffCeilingMs } from '../retry.ts';
import { parseIsoDuration } from './duration.ts';
import type { OutcomeError } from './outcome.ts';
import type { UpgradeRequest } from './request.ts';
import type { TriggerInfo } from './trigger.ts';

/**
 * Busy is not failed (README.md "Deferred upgrades"). TaurusDB refuses an operation on an instance
 * that runs another one (a backup, a scale, another proxy's upgrade) with a 4xx (409 in Huawei's
 * error-code tables) carrying one of these codes; nothing was executed, so the attempt can run again
 * later. Any 4xx status counts: the code says what happened, and gateways differ in the status.
 */
const BUSY_CODES: ReadonlySet<string> = new Set([
  'DBS.200011',
  'DBS.200019',
  'DBS.200047',
  'DBS.201014',
  'DBS.201015',
  'DBS.201202',
  // Backup in progress.
  'DBS.201205',
  'DBS.212006',
  // The instance is being operated on.
  'DBS.212033',
  'DBS.05000084',
]);

export function isBusyRefusal(error: OutcomeError): boolean {
  const { status, error_code } = error;
  return status !== undefined && status >= 400 && status < 500 && BUSY_CODES.has(error_code ?? '');
}

export interface DeferralSettings {
  /** How long a busy instance is retried when the request says nothing (busy_retry_for). */
  retryForMs: number;
  /** The wait before the first deferred attempt; it doubles for each further one, up to `capMs`. */
  backoff: BackoffOptions;
}

export type DeferralPlan =
  | { defer: true; name: string; at: Date; attempt: number; deadline: Date; input: UpgradeRequest }
  | { defer: false; deadline: Date };

/** The attempt's own id for duplicate suppression, and the schedule's name: both deterministic. */
export function attemptIdentity(trigger: TriggerInfo, request: UpgradeRequest, attempt: number) {
  const hash = digest(
    canonicalJson([
      'taurusdb-proxy-upgrader/deferred-attempt/v1',
      trigger.kind,
      trigger.id,
      request.project_id,
      request.instance_id,
      request.proxy_id,
      request.source_version ?? 'current',
      request.target_version,
    ]),
  ).slice(0, 32);
  // Scheduler names take 1 to 64 of [0-9a-zA-Z-_.]; ClientToken only [a-zA-Z0-9-_]: neither has a dot here.
  return { deliveryId: `deferred-${hash}-${attempt}`, scheduleName: `proxy-upgrade-${hash}-${attempt}` };
}

/**
 * What a deferred attempt keeps of the delivery that first asked: its kind and id, and for the JWT
 * route the caller its token named, so the attempt's events and requested_by still say who asked.
 */
function originOf(trigger: NonNullable<UpgradeRequest['deferral']>['trigger'] | TriggerInfo) {
  const { kind, id, auth, client_id, sub } = trigger;
  return {
    kind,
    id,
    ...(auth === undefined ? {} : { auth }),
    ...(client_id === undefined ? {} : { client_id }),
    ...(sub === undefined ? {} : { sub }),
  };
}

/** Where a busy target's retries stand: the attempt that just ran, and the deadline once one was set. */
export interface EarlierAttempts {
  attempt: number;
  /** Set by the first busy answer (busy_retry_for after it); absent until the instance was found busy. */
  deadline?: string | undefined;
}

export type NextAttempt =
  | { defer: true; at: Date; attempt: number; deadline: Date }
  | { defer: false; deadline: Date };

/**
 * The ONE rule for "retry a busy target or give up", whoever runs the next attempt (a Scheduler
 * schedule, or a rollout's loop: lib/upgrade/step.ts). The deadline is `retryForMs` after the first
 * busy answer; the next attempt waits `backoff.baseMs`, each further one twice as long up to `capMs`
 * (lib/retry.ts, without jitter: one target, one timer); an attempt that would fall after the
 * deadline does not run, and the target fails. A maintenance window's opening replaces the backoff.
 */
export function nextAttempt(
  earlier: EarlierAttempts,
  retryForMs: number,
  backoff: BackoffOptions,
  now: Date,
  opensAt?: Date,
): NextAttempt {
  const attempt = earlier.attempt + 1;
  // Whole seconds, as Scheduler's at() takes them: the event names the time the schedule has.
  const whole = (ms: number) => new Date(Math.ceil(ms / 1000) * 1000);
  let deadline =
    earlier.deadline === undefined ? new Date(now.getTime() + retryForMs) : new Date(earlier.deadline);
  if (opensAt === undefined) {
    const at = whole(now.getTime() + backoffCeilingMs(attempt - 1, backoff));
    if (at.getTime() > deadline.getTime()) return { defer: false, deadline };
    return { defer: true, at, attempt, deadline };
  }
  // Waiting for a maintenance window does not count against busy_retry_for: it starts afresh there.
  const at = whole(opensAt.getTime());
  deadline = new Date(Math.max(deadline.getTime(), at.getTime() + retryForMs));
  return { defer: true, at, attempt, deadline };
}

/** How long a request's busy target is retried: its own busy_retry_for, else the configured time. */
export function retryForOf(request: UpgradeRequest, settings: DeferralSettings): number {
  return request.busy_retry_for === undefined
    ? settings.retryForMs
    : (parseIsoDuration(request.busy_retry_for) ?? settings.retryForMs);
}

/**
 * When the next Scheduler-delivered attempt of a busy target runs, or that it does not (its deadline
 * comes first), with the schedule that delivers it.
 */
export function planDeferral(
  request: UpgradeRequest,
  trigger: TriggerInfo,
  settings: DeferralSettings,
  now: Date,
  opensAt?: Date,
): DeferralPlan {
  const deferral = request.deferral;
  const earlier = { attempt: deferral?.attempt ?? 1, deadline: deferral?.deadline };
  const next = nextAttempt(earlier, retryForOf(request, settings), settings.backoff, now, opensAt);
  if (!next.defer) return next;
  const { at, attempt, deadline } = next;
  const { deliveryId, scheduleName } = attemptIdentity(trigger, request, attempt);
  const { all_proxies: _listed, dry_run: _dry, ...rest } = request;
  const input: UpgradeRequest = {
    ...rest,
    delivery_id: deliveryId,
    deferral: {
      attempt,
      deadline: deadline.toISOString(),
      trigger: originOf(deferral?.trigger ?? trigger),
    },
  };
  return { defer: true, name: scheduleName, at, attempt, deadline, input };
}
