import * as z from 'zod';
import { ValidationError, type ValidationIssue } from '../errors.ts';
import { TRIGGER_KINDS, type TriggerKind } from '../http/triggers.ts';
import { DURATION_RULE, parseBusyRetryFor } from './duration.ts';
import { compareVersions, isVersion, LATEST, MAX_VERSION_LENGTH, VERSION_PATTERN } from './versions.ts';

/**
 * The upgrade request every trigger carries (README.md "Upgrade requests"), a batch of them, and the
 * one parser the handler uses. Refusals are ValidationIssues `{path, message}` whose messages are
 * written here, not zod's defaults, so the 400 a caller sees names the field and the rule.
 *
 * Limits chosen here:
 * - ids are URL path segments, so only letters, digits and `-`, 1 to 64 characters: nothing a
 *   caller sends can change the TaurusDB path (`../x`, `a/b`, `%2F`).
 * - `change_id` and `delivery_id`: 1 to 128 printable characters; `requested_by`: 1 to 256 (an
 *   e-mail address may be 254). Printable means no control characters (U+0000–U+001F,
 *   U+007F–U+009F), so they are safe in logs and event details. Lengths count UTF-16 code units.
 * - a batch holds 1 to 50 requests; a longer one is refused by its size alone (its items are not
 *   examined, so a huge array costs no per-item work).
 * - at most MAX_REPORTED_ISSUES issues are reported, then one `(root)` issue counts the rest.
 * - no message repeats user input except a validated version number (at most 41 characters) and, in
 *   the duplicate-proxy issue, ids already known to be path segments; key names in paths are cut to
 *   64 characters.
 *
 * Version awareness (the version read is `GET .../proxy/{proxy_id}/taurusproxy/proxy-version`):
 * - `target_version` is a version or "latest"; `source_version` may be omitted. Both are filled in
 *   from the version read, which runs before every upgrade unless the request says
 *   `"preflight": false`; without the read, "latest" and an omitted source cannot be resolved and are
 *   refused here, before anything runs.
 * - a target must be newer than an explicit source; with "latest" that is only known after the read.
 * - `proxy_id` names one proxy; `"all_proxies": true` instead asks for every proxy the instance lists.
 *   Exactly one of the two.
 * - a batch may set `preflight` and `dry_run` for all its items; an item's own value wins.
 *
 * One step per proxy: two items of a batch naming the same proxy (project, instance and proxy id), or
 * two all_proxies items naming the same instance, refuse the whole batch, however their versions or
 * dry_run differ. Duplicate suppression keys each step on the versions as requested, so such a pair
 * would make two steps and two upgrade calls for one proxy; which of them the caller meant is not ours
 * to guess. An explicit item that an all_proxies item's listing also names is not refused: there the
 * caller's intent is plain, and lib/upgrade/plan.ts lets the explicit item win.
 */

export const LANGUAGES = ['en-us', 'zh-cn'] as const;
export const WINDOWS = ['now', 'maintenance'] as const;
export const MAX_BATCH_SIZE = 50;
export const MAX_REPORTED_ISSUES = 100;
const MAX_ID_LENGTH = 64;
const MAX_KEY_IN_PATH = 64;

const ID_PATTERN = /^[A-Za-z0-9-]+$/;
// Huawei region ids: lowercase letters and digits in dash-separated parts (cn-north-4, my-kualalumpur-1).
const REGION_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+){1,4}$/;
const REGION_RULE = 'must be a Huawei region id such as eu-west-101';
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the rule itself
const PRINTABLE_PATTERN = /^[^\u0000-\u001f\u007f-\u009f]+$/;

const ID_RULE = `must contain only letters, digits and "-" (1 to ${MAX_ID_LENGTH} characters)`;
const VERSION_RULE = 'must be a dotted version number such as 2.24.03.000';
const TARGET_RULE = `must be "${LATEST}" or a dotted version number such as 2.24.03.000`;
export const PROXY_RULE = 'is required unless "all_proxies" is true';
export const ONE_PROXY_RULE = 'cannot be combined with proxy_id: name one proxy, or all of them';
const LATEST_NEEDS_READ = `"${LATEST}" needs the version read; remove "preflight": false`;
const SOURCE_NEEDS_READ = 'is required with "preflight": false: only the version read can fill it in';
const ADVISED_NEEDS_READ = 'needs the version read, which carries the advisory; remove "preflight": false';
// The version pattern, or the literal "latest": one pattern, so JSON Schema shows both and a caller
// gets one message.
const TARGET_PATTERN = new RegExp(`^(?:${LATEST}|${VERSION_PATTERN.source.slice(1, -1)})$`);
const LANGUAGE_RULE = `must be one of ${LANGUAGES.join(', ')}`;
const ROOT_RULE = 'must be a JSON object: an upgrade request or {"upgrades": [...]}';
const printableRule = (max: number) => `must be 1 to ${max} printable characters (no control characters)`;
const batchSizeRule = (count: string) => `must hold 1 to ${MAX_BATCH_SIZE} upgrades (got ${count})`;

// `abort` stops the later checks, so an over-long value is refused once, by length, before a pattern
// ever scans it.
export const pathSegment = (description: string) =>
  z
    .string()
    .min(1, { error: ID_RULE, abort: true })
    .max(MAX_ID_LENGTH, { error: ID_RULE, abort: true })
    .regex(ID_PATTERN, { error: ID_RULE })
    .meta({ description });

export const version = (description: string) =>
  z
    .string()
    .max(MAX_VERSION_LENGTH, { error: VERSION_RULE, abort: true })
    .regex(VERSION_PATTERN, { error: VERSION_RULE })
    .meta({ description });

export const target = (description: string) =>
  z
    .string()
    .max(MAX_VERSION_LENGTH, { error: TARGET_RULE, abort: true })
    .regex(TARGET_PATTERN, { error: TARGET_RULE })
    .meta({ description });

export const flag = (description: string) => z.boolean().optional().meta({ description });

const PREFLIGHT_DESCRIPTION =
  'Read the proxy versions before upgrading (default true): makes "latest", an omitted source_version, the skip when the proxy is already at the target and the source check possible. false sends the upgrade straight away.';
const DRY_RUN_DESCRIPTION =
  'Do every check (version read, proxy listing) and report what would happen as Proxy Upgrade Planned events, without calling anything that changes state (default false).';

export const printable = (max: number, description: string) =>
  z
    .string()
    .min(1, { error: printableRule(max), abort: true })
    .max(max, { error: printableRule(max), abort: true })
    .regex(PRINTABLE_PATTERN, { error: printableRule(max) })
    .meta({ description });

const busyRetryFor = z
  .string()
  .max(32, { error: DURATION_RULE, abort: true })
  .refine((text) => parseBusyRetryFor(text) !== undefined, { error: DURATION_RULE })
  .meta({
    description:
      'How long a busy instance (TaurusDB refusing because another operation runs) is retried by deferred attempts before the target fails with INSTANCE_BUSY; an ISO 8601 duration such as PT2H (default BUSY_RETRY_FOR, PT2H).',
  });

export const regionField = z
  .string()
  .max(MAX_ID_LENGTH, { error: REGION_RULE, abort: true })
  .regex(REGION_PATTERN, { error: REGION_RULE })
  .optional()
  .meta({
    description:
      'Huawei region id of the instance (e.g. eu-west-101); its TaurusDB endpoint is derived per request. Default: HUAWEI_REGION. A region no endpoint serves is refused before any call.',
  });

const DEFERRAL_RULE = 'is set only by the deferred attempts this function schedules (Scheduler input)';

/**
 * What a deferred attempt carries (README.md "Deferred upgrades"): written by the function into the
 * schedule it creates, accepted only from Scheduler input (assertDeferralOrigin).
 */
const deferralSchema = z
  .strictObject({
    attempt: z
      .int()
      .min(2)
      .max(10_000)
      .meta({ description: "This attempt's number; the first deferred one is 2." }),
    deadline: z.iso.datetime().meta({
      description: 'After this time a still busy instance ends the target as Failed INSTANCE_BUSY.',
    }),
    trigger: z
      .strictObject({
        kind: z.enum(TRIGGER_KINDS),
        id: z.string().min(1).max(512).regex(PRINTABLE_PATTERN),
        auth: z.literal('jwt').optional(),
        client_id: z.string().min(1).max(256).regex(PRINTABLE_PATTERN).optional(),
        sub: z.string().min(1).max(256).regex(PRINTABLE_PATTERN).optional(),
      })
      .meta({
        description:
          'The delivery that first asked for the upgrade (for the JWT route, with the caller its token named); its events keep naming it.',
      }),
  })
  .meta({ description: `The deferred attempt's bookkeeping; ${DEFERRAL_RULE}.` });

export const upgradeRequestSchema = z
  .strictObject({
    project_id: pathSegment('Huawei Cloud project id of the region (scopes the IAM token).'),
    region: regionField,
    instance_id: pathSegment('TaurusDB instance id.'),
    proxy_id: pathSegment('Database proxy id; required unless all_proxies is true.').optional(),
    all_proxies: flag(
      'true: upgrade every proxy the instance lists (GET .../proxies), each its own target; instead of proxy_id.',
    ),
    source_version: version(
      'Kernel version the proxy runs now, e.g. 2.23.12.000. Optional: the version read fills it in; when given, a proxy at another version is refused.',
    ).optional(),
    target_version: target(
      'Kernel version to upgrade to, newer than source_version; or "latest" for the latest_version TaurusDB reports.',
    ),
    preflight: flag(PREFLIGHT_DESCRIPTION),
    dry_run: flag(DRY_RUN_DESCRIPTION),
    language: z
      .enum(LANGUAGES, { error: LANGUAGE_RULE })
      .optional()
      .meta({ description: 'Language of TaurusDB messages (X-Language); en-us when absent.' }),
    change_id: printable(
      128,
      'Change-management ticket the upgrade belongs to; copied into events.',
    ).optional(),
    requested_by: printable(256, 'Who asked for the upgrade; copied into events.').optional(),
    delivery_id: printable(
      128,
      'Names this delivery for duplicate suppression (e.g. <aws.scheduler.execution-id>); a redelivery with the same id is not executed twice.',
    ).optional(),
    window: z
      .enum(WINDOWS, { error: `must be one of ${WINDOWS.join(', ')}` })
      .optional()
      .meta({
        description:
          '"now" (default): upgrade at once. "maintenance": read the instance (status, maintenance_window, UTC) and upgrade only inside its maintenance window; outside it the upgrade is deferred until the window opens.',
      }),
    only_if_advised: flag(
      "true: upgrade only a proxy whose version read carries Huawei's upgrade advisory (risk); skip the others with a reason. Needs the version read.",
    ),
    busy_retry_for: busyRetryFor.optional(),
    deferral: deferralSchema.optional(),
  })
  .superRefine(
    (request, ctx) => {
      if (compareVersions(request.target_version, String(request.source_version)) <= 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['target_version'],
          message: `must be newer than source_version ${request.source_version}`,
        });
      }
    },
    // Runs whenever both versions are well formed, so a downgrade is reported alongside other issues.
    { when: (payload) => hasComparableVersions(payload.value) },
  )
  .meta({
    id: 'UpgradeRequest',
    title: 'Proxy upgrade request',
    description:
      'Upgrade one TaurusDB proxy (proxy_id) or every proxy of an instance (all_proxies: true) to target_version. Rules JSON Schema cannot express, enforced by the function: exactly one of proxy_id and all_proxies: true; target_version newer than an explicit source_version; with preflight false, source_version is required and target_version cannot be "latest".',
  });

export const upgradeBatchSchema = z
  .strictObject({
    upgrades: z
      .array(upgradeRequestSchema, { error: 'must be an array of upgrade requests' })
      .min(1, { error: (issue) => batchSizeRule(lengthOf(issue.input)) })
      .max(MAX_BATCH_SIZE, { error: (issue) => batchSizeRule(lengthOf(issue.input)) })
      .meta({ description: `The upgrade requests, 1 to ${MAX_BATCH_SIZE}.` }),
    preflight: flag(`${PREFLIGHT_DESCRIPTION} Applies to every item that does not set its own.`),
    dry_run: flag(`${DRY_RUN_DESCRIPTION} Applies to every item that does not set its own.`),
  })
  .meta({
    title: 'Batch of proxy upgrade requests',
    description: `1 to ${MAX_BATCH_SIZE} upgrade requests, processed with bounded concurrency; one failing item does not stop the others. preflight and dry_run given here apply to every item that does not set its own. No two items may name the same proxy (project_id, instance_id, proxy_id), nor two all_proxies items the same instance, whatever their versions or dry_run; a proxy that an all_proxies item lists and another item names is upgraded once, as that item asks.`,
  });

export type FieldIssue = { path: PropertyKey[]; message: string };

/**
 * The rules that tie fields together, some across the batch: exactly one of proxy_id and
 * all_proxies: true; without the version read (`preflight` false, the item's own or else the batch's)
 * nothing can fill in "latest" or an omitted source. Checked on the raw payload rather than as zod
 * refinements: zod skips every refinement once any field fails with an aborting issue (an over-long
 * id), and these rules stand in for field-level "is required" issues that must be reported whatever
 * else is wrong.
 */
function ruleIssues(payload: Record<string, unknown>): FieldIssue[] {
  if (!Object.hasOwn(payload, 'upgrades')) return requestRuleIssues(payload, payload.preflight, []);
  const { upgrades, preflight } = payload;
  if (!Array.isArray(upgrades)) return [];
  const itemIssues = upgrades.flatMap((item: unknown, index) =>
    isPlainObject(item)
      ? // An item's own preflight wins over the batch's.
        requestRuleIssues(item, Object.hasOwn(item, 'preflight') ? item.preflight : preflight, [
          'upgrades',
          index,
        ])
      : [],
  );
  return [...itemIssues, ...duplicateIssues(upgrades)];
}

/**
 * Each item naming a proxy (or a whole instance) that an earlier item already named, reported at the
 * later item and naming both. Only items whose ids are well formed take part: a malformed id has an
 * issue of its own, and only a validated id is safe to repeat in a message.
 */
function duplicateIssues(upgrades: unknown[]): FieldIssue[] {
  const firstIndex = new Map<string, number>();
  const issues: FieldIssue[] = [];
  upgrades.forEach((item, index) => {
    const named = isPlainObject(item) ? namedStep(item) : undefined;
    if (named === undefined) return;
    const earlier = firstIndex.get(named.key);
    if (earlier === undefined) {
      firstIndex.set(named.key, index);
      return;
    }
    issues.push({
      path: ['upgrades', index],
      message: `upgrades[${earlier}] and upgrades[${index}] ${named.clash}`,
    });
  });
  return issues;
}

/** What an item asks a step of: one proxy, or with all_proxies every proxy of one instance. */
function namedStep(item: Record<string, unknown>): { key: string; clash: string } | undefined {
  const { project_id, instance_id, proxy_id, all_proxies } = item;
  if (!isId(project_id) || !isId(instance_id)) return undefined;
  const instance = `project ${project_id}, instance ${instance_id}`;
  if (all_proxies === true) {
    if (proxy_id !== undefined) return undefined;
    return {
      key: `all/${project_id}/${instance_id}`,
      clash: `both ask for every proxy of the same instance (${instance})`,
    };
  }
  if (!isId(proxy_id)) return undefined;
  return {
    key: `proxy/${project_id}/${instance_id}/${proxy_id}`,
    clash: `name the same proxy (${instance}, proxy ${proxy_id})`,
  };
}

export function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_ID_LENGTH && ID_PATTERN.test(value);
}

function requestRuleIssues(
  request: Record<string, unknown>,
  preflight: unknown,
  at: PropertyKey[],
): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const { proxy_id, all_proxies, source_version, target_version } = request;
  // A wrongly typed all_proxies has its own issue; guessing what it meant would only add noise.
  if (all_proxies === undefined || typeof all_proxies === 'boolean') {
    if (proxy_id === undefined && all_proxies !== true) {
      issues.push({ path: [...at, 'proxy_id'], message: PROXY_RULE });
    }
    if (proxy_id !== undefined && all_proxies === true) {
      issues.push({ path: [...at, 'all_proxies'], message: ONE_PROXY_RULE });
    }
  }
  if (preflight === false) {
    if (source_version === undefined)
      issues.push({ path: [...at, 'source_version'], message: SOURCE_NEEDS_READ });
    if (target_version === LATEST)
      issues.push({ path: [...at, 'target_version'], message: LATEST_NEEDS_READ });
    if (request.only_if_advised === true)
      issues.push({ path: [...at, 'only_if_advised'], message: ADVISED_NEEDS_READ });
  }
  return issues;
}

/**
 * What every trigger carries, for documentation (docs/schemas/upgrade-request.schema.json). Parse
 * with parseUpgradePayload: it tells a batch from a request by the `upgrades` key, so its issues
 * name the fields of the shape the caller meant rather than a union mismatch.
 */
export const upgradePayloadSchema = z.union([upgradeRequestSchema, upgradeBatchSchema]).meta({
  title: 'Proxy upgrade request or batch',
  description: `One upgrade request, or {"upgrades": [...]} with 1 to ${MAX_BATCH_SIZE} of them. In every request target_version must be newer than an explicit source_version (compared numerically segment by segment), exactly one of proxy_id and all_proxies: true is given, and with preflight false source_version is required and target_version cannot be "latest"; in a batch no two items name the same proxy, nor two all_proxies items the same instance. JSON Schema cannot express these rules, the function enforces them.`,
});

export type UpgradeRequest = z.infer<typeof upgradeRequestSchema>;

/**
 * What identifies one upgrade step as the caller asked for it: what events, answers and logs name.
 * Versions are as requested ("latest" literally, an omitted source absent); what they resolved to is
 * reported beside them. `all_proxies` and `dry_run` appear only when true.
 */
export interface UpgradeTarget {
  project_id: string;
  instance_id: string;
  region?: string;
  /** Absent only for an all_proxies request that did not get as far as a listed proxy. */
  proxy_id?: string;
  all_proxies?: true;
  source_version?: string;
  target_version: string;
  dry_run?: true;
}

export function targetOf(request: UpgradeRequest): UpgradeTarget {
  const { project_id, instance_id, region, proxy_id, source_version, target_version } = request;
  return {
    project_id,
    instance_id,
    ...(region === undefined ? {} : { region }),
    ...(proxy_id === undefined ? {} : { proxy_id }),
    ...(request.all_proxies === true ? { all_proxies: true as const } : {}),
    ...(source_version === undefined ? {} : { source_version }),
    target_version,
    ...(request.dry_run === true ? { dry_run: true as const } : {}),
  };
}
export type UpgradeBatch = z.infer<typeof upgradeBatchSchema>;

export interface ParsedPayload {
  requests: UpgradeRequest[];
  /**
   * The payload was `{"upgrades": [...]}`, even of one item: a batch answers 200 over HTTP with each
   * outcome inside, so a caller reads a batch's answer the same way whatever its length.
   */
  batch: boolean;
}

/**
 * A single request or a batch, as any trigger delivers it, to the requests to run and its shape.
 * Throws a ValidationError carrying every issue found; nothing is run when any item is invalid.
 */
export function parseUpgradeDelivery(payload: unknown): ParsedPayload {
  if (!isPlainObject(payload)) throw new ValidationError([{ path: '(root)', message: ROOT_RULE }]);
  // Own property only: an inherited `upgrades` must not turn a request into a batch.
  if (!Object.hasOwn(payload, 'upgrades')) {
    return { requests: [parseWith(upgradeRequestSchema, payload)], batch: false };
  }
  const upgrades = payload.upgrades;
  if (Array.isArray(upgrades) && upgrades.length > MAX_BATCH_SIZE) {
    throw new ValidationError([{ path: 'upgrades', message: batchSizeRule(String(upgrades.length)) }]);
  }
  return { requests: batchRequests(parseWith(upgradeBatchSchema, payload)), batch: true };
}

/**
 * A deferral object is the function's own bookkeeping: only a single request of Scheduler input may
 * carry one (the schedules this function creates), never a webhook, a pipeline event or a batch item.
 */
export function assertDeferralOrigin(kind: TriggerKind, parsed: ParsedPayload): void {
  const issues = parsed.requests.flatMap((request, index) =>
    request.deferral !== undefined && (kind !== 'schedule' || parsed.batch)
      ? [{ path: parsed.batch ? `upgrades[${index}].deferral` : 'deferral', message: DEFERRAL_RULE }]
      : [],
  );
  if (issues.length > 0) throw new ValidationError(issues);
}

/**
 * Every request's region must be one an endpoint serves (lib/huawei/endpoints.ts, with the
 * configuration's overrides): refused before any call, naming the field, like every other refusal.
 */
export function assertServedRegions(parsed: ParsedPayload, served: (region: string) => boolean): void {
  const issues = parsed.requests.flatMap((request, index) =>
    request.region !== undefined && !served(request.region)
      ? [
          {
            path: parsed.batch ? `upgrades[${index}].region` : 'region',
            message: `is not a region TaurusDB is known in here (${request.region}); name a Huawei region, or add its endpoint to TAURUSDB_ENDPOINTS`,
          },
        ]
      : [],
  );
  if (issues.length > 0) throw new ValidationError(issues);
}

/** parseUpgradeDelivery's requests alone, for callers that do not answer over HTTP. */
export function parseUpgradePayload(payload: unknown): UpgradeRequest[] {
  return parseUpgradeDelivery(payload).requests;
}

/** The batch's items, each inheriting the batch's preflight and dry_run unless it sets its own. */
function batchRequests(batch: UpgradeBatch): UpgradeRequest[] {
  return batch.upgrades.map((request) => ({
    ...request,
    ...(batch.preflight === undefined || request.preflight !== undefined
      ? {}
      : { preflight: batch.preflight }),
    ...(batch.dry_run === undefined || request.dry_run !== undefined ? {} : { dry_run: batch.dry_run }),
  }));
}

function parseWith<Schema extends z.ZodType>(
  schema: Schema,
  payload: Record<string, unknown>,
): z.infer<Schema> {
  const parsed = schema.safeParse(payload, { error: messageFor });
  const rules = ruleIssues(payload);
  if (parsed.success && rules.length === 0) return parsed.data;
  throw new ValidationError(toValidationIssues(parsed.error?.issues ?? [], rules));
}

/** Messages for the issues the schemas above do not word themselves (types, unknown keys). */
export function messageFor(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      if (issue.expected === 'object') return 'must be a JSON object (an upgrade request)';
      if (issue.expected === 'array') return 'must be an array';
      return `must be a ${issue.expected}`;
    case 'unrecognized_keys':
      return 'is not a known field';
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    default:
      return 'is not valid';
  }
}

export function toValidationIssues(
  zodIssues: readonly z.core.$ZodIssue[],
  rules: FieldIssue[],
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  let total = 0;
  const add = (path: readonly PropertyKey[], message: string) => {
    const issue = { path: formatPath(path), message };
    const key = `${issue.path}\u0000${issue.message}`;
    if (seen.has(key)) return;
    seen.add(key);
    total += 1;
    if (issues.length < MAX_REPORTED_ISSUES) issues.push(issue);
  };
  for (const issue of zodIssues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) add([...issue.path, key], 'is not a known field');
    } else {
      add(issue.path, issue.message);
    }
  }
  for (const rule of rules) add(rule.path, rule.message);
  if (total > issues.length) {
    issues.push({ path: '(root)', message: `${total - issues.length} more issues not shown` });
  }
  return issues;
}

/** `upgrades[3].target_version`; a key that is not a plain name is quoted and cut short. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') {
      text += `[${segment}]`;
    } else if (typeof segment === 'string' && /^[A-Za-z0-9_$-]{1,64}$/.test(segment)) {
      text += text === '' ? segment : `.${segment}`;
    } else {
      const name = String(segment);
      const shown = name.length > MAX_KEY_IN_PATH ? `${name.slice(0, MAX_KEY_IN_PATH)}…` : name;
      text += `[${JSON.stringify(shown)}]`;
    }
  }
  return text;
}

/** Both versions explicit and well formed ("latest" is only comparable after the version read). */
function hasComparableVersions(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const { source_version, target_version } = value as Record<string, unknown>;
  return isVersion(source_version) && isVersion(target_version);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function lengthOf(input: unknown): string {
  return Array.isArray(input) ? String(input.length) : 'none';
}
