import { createHash } from 'node:crypto';
import * as z from 'zod';
import { ValidationError } from '../errors.ts';
import {
  type FieldIssue,
  flag,
  isId,
  isPlainObject,
  messageFor,
  ONE_PROXY_RULE,
  PROXY_RULE,
  pathSegment,
  printable,
  regionField,
  target,
  toValidationIssues,
  version,
  WINDOWS,
} from '../upgrade/request.ts';
import { compareVersions, isVersion } from '../upgrade/versions.ts';
import { ROLLOUT_ID_PATTERN, ROLLOUT_ID_RULE } from './rollout-id.ts';

/**
 * The rollout request (README.md "Fleet rollouts"): what POST /rollouts, a `Proxy Rollout Requested`
 * event and Scheduler input carry. Every refusal is a ValidationIssue naming the field and the rule,
 * raised before anything is read, written or started; the field builders are the upgrade request's
 * (lib/upgrade/request.ts), so an id or a version is refused in the same words on both.
 *
 * Limits chosen here:
 * - 1 to MAX_ROLLOUT_ENTRIES target entries, each one proxy or (`all_proxies`) every proxy of an
 *   instance; the expanded fleet is capped again when planned (MAX_PLANNED_TARGETS, lib/rollouts/plan.ts).
 * - 1 to MAX_WAVES waves, each `{size}` (a number of targets) or `{percent}` (of the planned targets),
 *   cumulative: sizes and percents each strictly grow from wave to wave, and the last wave is
 *   `{"percent": 100}` so that every planned target belongs to a wave.
 * - `concurrency` 1 to MAX_CONCURRENCY upgrades in flight (POST sent, workflow not ended).
 * - `soak_minutes` 0 to 1440 (a day): longer waits are an approval gate's job.
 * - `rollout_id`: letters, digits, "-" and "_", 1 to 64 characters: it is a URL path segment
 *   (/rollouts/{id}) and, with a wave suffix, a Step Functions execution name (at most 80).
 */

export const MAX_ROLLOUT_ENTRIES = 1000;
export const MAX_WAVES = 10;
const MAX_CONCURRENCY = 100;
const MAX_SOAK_MINUTES = 1440;
const GATES = ['auto', 'approval'] as const;

export const DEFAULT_WAVES: readonly Wave[] = [{ size: 1 }, { percent: 10 }, { percent: 100 }];
const DEFAULT_CONCURRENCY = 10;
/** The first failure halts: a rollout that asks for no budget tolerates none beyond it. */
export const DEFAULT_MAX_FAILURES: FailureBudget = { count: 1 };

const LAST_WAVE_RULE =
  'the last wave must be {"percent": 100}, so that every planned target belongs to a wave';
const ROOT_RULE = 'must be a JSON object: a rollout request';
const entriesRule = `must hold 1 to ${MAX_ROLLOUT_ENTRIES} targets`;
const wavesRule = `must hold 1 to ${MAX_WAVES} waves`;
const WAVE_RULE = 'must be {"size": <whole number ≥ 1>} or {"percent": <number over 0, at most 100>}';
const BUDGET_RULE = 'must be {"count": <whole number ≥ 1>} or {"percent": <number over 0, at most 100>}';

const percent = z
  .number({ error: 'must be a number over 0, at most 100' })
  .gt(0, { error: 'must be a number over 0, at most 100' })
  .max(100, { error: 'must be a number over 0, at most 100' });

const wholeAtLeast = (min: number, max: number) =>
  z
    .int({ error: `must be a whole number from ${min} to ${max}` })
    .min(min, { error: `must be a whole number from ${min} to ${max}` })
    .max(max, { error: `must be a whole number from ${min} to ${max}` });

const waveSchema = z
  .union([z.strictObject({ size: wholeAtLeast(1, 100_000) }), z.strictObject({ percent })], {
    error: WAVE_RULE,
  })
  .meta({ description: 'A cumulative share of the planned targets: a number of them, or a percent.' });

const budgetSchema = z
  .union([z.strictObject({ count: wholeAtLeast(1, 100_000) }), z.strictObject({ percent })], {
    error: BUDGET_RULE,
  })
  .meta({
    description:
      'The failures (Failed, Rejected, Timed Out, Unconfirmed) at which the rollout halts: a count, or a percent of the planned targets rounded up, at least 1. Default {"count": 1}.',
  });

const targetEntrySchema = z.strictObject({
  project_id: pathSegment('Huawei Cloud project id of the region (scopes the IAM token).'),
  instance_id: pathSegment('TaurusDB instance id.'),
  proxy_id: pathSegment('Database proxy id; required unless all_proxies is true.').optional(),
  all_proxies: flag('true: every proxy the instance lists, each a target of its own; instead of proxy_id.'),
  region: regionField,
});

export const rolloutRequestSchema = z
  .strictObject({
    rollout_id: z
      .string()
      .regex(ROLLOUT_ID_PATTERN, { error: ROLLOUT_ID_RULE })
      .optional()
      .meta({ description: 'Names the rollout; default: derived from the delivery id.' }),
    targets: z
      .array(targetEntrySchema, {
        error: (issue) => (issue.input === undefined ? 'is required' : 'must be an array of targets'),
      })
      .min(1, { error: entriesRule })
      .max(MAX_ROLLOUT_ENTRIES, { error: entriesRule }),
    target_version: target(
      'Kernel version to roll out, or "latest" (resolved per proxy by its version read).',
    ),
    source_version: version(
      'Only proxies at this version are upgraded; others fail VERSION_MISMATCH.',
    ).optional(),
    waves: z
      .array(waveSchema, {
        error: (issue) => (issue.input === undefined ? 'is required' : 'must be an array of waves'),
      })
      .min(1, { error: wavesRule })
      .max(MAX_WAVES, { error: wavesRule })
      .optional(),
    concurrency: wholeAtLeast(1, MAX_CONCURRENCY).optional(),
    max_failures: budgetSchema.optional(),
    gate: z
      .enum(GATES, { error: `must be one of ${GATES.join(', ')}` })
      .optional()
      .meta({
        description:
          '"auto" (default): next wave after soak_minutes; "approval": wait for approve, then soak.',
      }),
    soak_minutes: wholeAtLeast(0, MAX_SOAK_MINUTES).optional(),
    window: z.enum(WINDOWS, { error: `must be one of ${WINDOWS.join(', ')}` }).optional(),
    only_if_advised: flag("true: upgrade only proxies Huawei's version read advises; skip the others."),
    change_id: printable(128, 'Change-management ticket; copied into events.').optional(),
    requested_by: printable(256, 'Who asked for the rollout; copied into events.').optional(),
    delivery_id: printable(
      128,
      'Scheduler input only (HTTP and events are named by their envelope): names the delivery, e.g. <aws.scheduler.execution-id>, so that a replay of it derives the same rollout_id. Scheduler input needs rollout_id or delivery_id.',
    ).optional(),
  })
  .meta({
    title: 'Proxy fleet rollout request',
    description:
      'A fleet rollout (README.md "Fleet rollouts"): POST /rollouts, a Proxy Rollout Requested event or Scheduler input. Rules JSON Schema cannot express, enforced by the function: exactly one of proxy_id and all_proxies: true per target, no proxy twice, waves cumulative and ending at {"percent": 100}, target_version newer than an explicit source_version.',
  });

type ParsedRollout = z.infer<typeof rolloutRequestSchema>;
export type Wave = { size: number } | { percent: number };
export type FailureBudget = { count: number } | { percent: number };
export type TargetEntry = z.infer<typeof targetEntrySchema>;

/** A rollout request with every default filled in and its id settled. */
export interface RolloutRequest {
  rollout_id: string;
  targets: TargetEntry[];
  target_version: string;
  source_version?: string;
  waves: Wave[];
  concurrency: number;
  max_failures: FailureBudget;
  gate: (typeof GATES)[number];
  soak_minutes: number;
  window: (typeof WINDOWS)[number];
  only_if_advised: boolean;
  change_id?: string;
  requested_by?: string;
}

const UNNAMED_RULE =
  'is required for Scheduler input, unless delivery_id names the delivery (e.g. "<aws.scheduler.execution-id>"): Lambda\'s request id would derive another rollout_id when the input is replayed from the failed-deliveries queue, a second rollout of the same fleet';

/**
 * The rollout a delivery asks for, or a ValidationError carrying every issue found. `deliveryId`
 * names the delivery (webhook-id, event id, each prefixed by its trigger kind) and derives the rollout
 * id when the request names none, so a redelivery is the same rollout. `undefined`: the delivery has
 * no id of its own (Scheduler input, a rule's constant input); then the request's `delivery_id`
 * names it, and a request naming neither it nor a rollout_id is refused: the only other id, Lambda's
 * request id, is new when an operator replays the input (README "Replaying dead letters").
 */
export function parseRolloutRequest(payload: unknown, deliveryId: string | undefined): RolloutRequest {
  if (!isPlainObject(payload)) throw new ValidationError([{ path: '(root)', message: ROOT_RULE }]);
  const entries = payload.targets;
  // Refused by its size alone: a huge array costs no per-item work.
  if (Array.isArray(entries) && entries.length > MAX_ROLLOUT_ENTRIES) {
    throw new ValidationError([{ path: 'targets', message: `${entriesRule} (got ${entries.length})` }]);
  }
  const parsed = rolloutRequestSchema.safeParse(payload, { error: messageFor });
  const rules = ruleIssues(payload);
  if (!parsed.success || rules.length > 0) {
    throw new ValidationError(toValidationIssues(parsed.error?.issues ?? [], rules));
  }
  const { delivery_id } = parsed.data;
  const named = deliveryId ?? (delivery_id === undefined ? undefined : `schedule:${delivery_id}`);
  const rolloutId = parsed.data.rollout_id ?? (named === undefined ? undefined : deriveRolloutId(named));
  if (rolloutId === undefined) throw new ValidationError([{ path: 'rollout_id', message: UNNAMED_RULE }]);
  return withDefaults(parsed.data, rolloutId);
}

/** `delivery_id` only names the delivery: it is no part of the request (nor of its digest). */
function withDefaults(request: ParsedRollout, rolloutId: string): RolloutRequest {
  const { source_version, change_id, requested_by } = request;
  return {
    rollout_id: rolloutId,
    targets: request.targets,
    target_version: request.target_version,
    ...(source_version === undefined ? {} : { source_version }),
    waves: request.waves ?? [...DEFAULT_WAVES],
    concurrency: request.concurrency ?? DEFAULT_CONCURRENCY,
    max_failures: request.max_failures ?? DEFAULT_MAX_FAILURES,
    gate: request.gate ?? 'auto',
    soak_minutes: request.soak_minutes ?? 0,
    window: request.window ?? 'now',
    only_if_advised: request.only_if_advised ?? false,
    ...(change_id === undefined ? {} : { change_id }),
    ...(requested_by === undefined ? {} : { requested_by }),
  };
}

/** `r-` and 32 hex digits of the delivery id's SHA-256: a path segment whatever the id holds. */
export function deriveRolloutId(deliveryId: string): string {
  return `r-${createHash('sha256').update(deliveryId).digest('hex').slice(0, 32)}`;
}

/**
 * The rules that tie fields together, checked on the raw payload so they are reported whatever else
 * is wrong (zod skips refinements once a field fails): one proxy or all of them per entry, no entry
 * twice, waves that grow and end at 100 %, a target newer than an explicit source.
 */
function ruleIssues(payload: Record<string, unknown>): FieldIssue[] {
  const issues = [...entryIssues(payload.targets), ...waveIssues(payload.waves)];
  const { source_version, target_version } = payload;
  if (isVersion(source_version) && isVersion(target_version)) {
    if (compareVersions(target_version, source_version) <= 0) {
      issues.push({
        path: ['target_version'],
        message: `must be newer than source_version ${source_version}`,
      });
    }
  }
  return issues;
}

function entryIssues(entries: unknown): FieldIssue[] {
  if (!Array.isArray(entries)) return [];
  const issues: FieldIssue[] = [];
  const first = new Map<string, number>();
  entries.forEach((entry: unknown, index) => {
    if (!isPlainObject(entry)) return;
    const { project_id, instance_id, proxy_id, all_proxies } = entry;
    if (all_proxies === undefined || typeof all_proxies === 'boolean') {
      if (proxy_id === undefined && all_proxies !== true) {
        issues.push({ path: ['targets', index, 'proxy_id'], message: PROXY_RULE });
      }
      if (proxy_id !== undefined && all_proxies === true) {
        issues.push({ path: ['targets', index, 'all_proxies'], message: ONE_PROXY_RULE });
      }
    }
    if (!isId(project_id) || !isId(instance_id)) return;
    const key =
      all_proxies === true
        ? `all/${project_id}/${instance_id}`
        : `${project_id}/${instance_id}/${String(proxy_id)}`;
    if (all_proxies !== true && !isId(proxy_id)) return;
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, index);
    else
      issues.push({ path: ['targets', index], message: `repeats targets[${earlier}]: name each proxy once` });
  });
  return issues;
}

/** Cumulative waves: sizes grow, percents grow, and the last is 100 %. Malformed waves have their own issue. */
function waveIssues(waves: unknown): FieldIssue[] {
  if (!Array.isArray(waves) || waves.length === 0 || waves.length > MAX_WAVES) return [];
  const issues: FieldIssue[] = [];
  let size = 0;
  let share = 0;
  waves.forEach((wave: unknown, index) => {
    if (!isPlainObject(wave)) return;
    // Only well-formed waves are compared; a malformed one has its own issue.
    if (Number.isInteger(wave.size) && (wave.size as number) >= 1) {
      if ((wave.size as number) <= size)
        issues.push({
          path: ['waves', index, 'size'],
          message: `must be more than the earlier wave's ${size}: waves are cumulative`,
        });
      size = Math.max(size, wave.size as number);
    }
    if (typeof wave.percent === 'number' && wave.percent > 0 && wave.percent <= 100) {
      if (wave.percent <= share)
        issues.push({
          path: ['waves', index, 'percent'],
          message: `must be more than the earlier wave's ${share} %: waves are cumulative`,
        });
      share = Math.max(share, wave.percent);
    }
  });
  const last = waves.at(-1);
  if (!isPlainObject(last) || last.percent !== 100) {
    issues.push({ path: ['waves', waves.length - 1], message: LAST_WAVE_RULE });
  }
  return issues;
}
