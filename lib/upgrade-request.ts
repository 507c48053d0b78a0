import { z } from 'zod';
import { ValidationError, type ValidationIssue } from './errors.ts';
import { compareVersions, isVersion, MAX_VERSION_LENGTH, VERSION_PATTERN } from './versions.ts';

/**
 * The upgrade request every trigger carries (DESIGN.md "Upgrade request"), a batch of them, and the
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
 * - no message repeats user input except a validated version number (at most 41 characters); key
 *   names in paths are cut to 64 characters.
 */

export const LANGUAGES = ['en-us', 'zh-cn'] as const;
export const MAX_BATCH_SIZE = 50;
export const MAX_REPORTED_ISSUES = 100;
const MAX_ID_LENGTH = 64;
const MAX_KEY_IN_PATH = 64;

const ID_PATTERN = /^[A-Za-z0-9-]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the rule itself
const PRINTABLE_PATTERN = /^[^\u0000-\u001f\u007f-\u009f]+$/;

const ID_RULE = `must contain only letters, digits and "-" (1 to ${MAX_ID_LENGTH} characters)`;
const VERSION_RULE = 'must be a dotted version number such as 2.24.03.000';
const LANGUAGE_RULE = `must be one of ${LANGUAGES.join(', ')}`;
const ROOT_RULE = 'must be a JSON object: an upgrade request or {"upgrades": [...]}';
const printableRule = (max: number) => `must be 1 to ${max} printable characters (no control characters)`;
const batchSizeRule = (count: string) => `must hold 1 to ${MAX_BATCH_SIZE} upgrades (got ${count})`;

// `abort` stops the later checks, so an over-long value is refused once, by length, before a pattern
// ever scans it.
const pathSegment = (description: string) =>
  z
    .string()
    .min(1, { error: ID_RULE, abort: true })
    .max(MAX_ID_LENGTH, { error: ID_RULE, abort: true })
    .regex(ID_PATTERN, { error: ID_RULE })
    .meta({ description });

const version = (description: string) =>
  z
    .string()
    .max(MAX_VERSION_LENGTH, { error: VERSION_RULE, abort: true })
    .regex(VERSION_PATTERN, { error: VERSION_RULE })
    .meta({ description });

const printable = (max: number, description: string) =>
  z
    .string()
    .min(1, { error: printableRule(max), abort: true })
    .max(max, { error: printableRule(max), abort: true })
    .regex(PRINTABLE_PATTERN, { error: printableRule(max) })
    .meta({ description });

export const upgradeRequestSchema = z
  .strictObject({
    project_id: pathSegment('Huawei Cloud project id of the region (scopes the IAM token).'),
    instance_id: pathSegment('TaurusDB instance id.'),
    proxy_id: pathSegment('Database proxy id.'),
    source_version: version('Kernel version the proxy runs now, e.g. 2.23.12.000.'),
    target_version: version('Kernel version to upgrade to; must be newer than source_version.'),
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
  })
  .superRefine(
    (request, ctx) => {
      if (compareVersions(request.target_version, request.source_version) <= 0) {
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
      'Upgrade one TaurusDB proxy from source_version to target_version. target_version must be newer than source_version; JSON Schema cannot express that rule, the function enforces it.',
  });

export const upgradeBatchSchema = z
  .strictObject({
    upgrades: z
      .array(upgradeRequestSchema, { error: 'must be an array of upgrade requests' })
      .min(1, { error: (issue) => batchSizeRule(lengthOf(issue.input)) })
      .max(MAX_BATCH_SIZE, { error: (issue) => batchSizeRule(lengthOf(issue.input)) })
      .meta({ description: `The upgrade requests, 1 to ${MAX_BATCH_SIZE}.` }),
  })
  .meta({
    title: 'Batch of proxy upgrade requests',
    description: `1 to ${MAX_BATCH_SIZE} upgrade requests, processed with bounded concurrency; one failing item does not stop the others.`,
  });

/**
 * What every trigger carries, for documentation (docs/schemas/upgrade-request.schema.json). Parse
 * with parseUpgradePayload: it tells a batch from a request by the `upgrades` key, so its issues
 * name the fields of the shape the caller meant rather than a union mismatch.
 */
export const upgradePayloadSchema = z.union([upgradeRequestSchema, upgradeBatchSchema]).meta({
  title: 'Proxy upgrade request or batch',
  description: `One upgrade request, or {"upgrades": [...]} with 1 to ${MAX_BATCH_SIZE} of them. In every request target_version must be newer than source_version (compared numerically segment by segment); JSON Schema cannot express that rule, the function enforces it.`,
});

export type UpgradeRequest = z.infer<typeof upgradeRequestSchema>;

/** The five fields that identify one upgrade: what duplicate suppression, events and answers key on. */
export type UpgradeTarget = Pick<
  UpgradeRequest,
  'project_id' | 'instance_id' | 'proxy_id' | 'source_version' | 'target_version'
>;

export function targetOf(request: UpgradeRequest): UpgradeTarget {
  const { project_id, instance_id, proxy_id, source_version, target_version } = request;
  return { project_id, instance_id, proxy_id, source_version, target_version };
}
export type UpgradeBatch = z.infer<typeof upgradeBatchSchema>;

/**
 * A single request or a batch, as any trigger delivers it, to the list of requests to run.
 * Throws a ValidationError carrying every issue found; nothing is run when any item is invalid.
 */
export function parseUpgradePayload(payload: unknown): UpgradeRequest[] {
  if (!isPlainObject(payload)) throw new ValidationError([{ path: '(root)', message: ROOT_RULE }]);
  // Own property only: an inherited `upgrades` must not turn a request into a batch.
  if (!Object.hasOwn(payload, 'upgrades')) return [parseWith(upgradeRequestSchema, payload)];
  const upgrades = payload.upgrades;
  if (Array.isArray(upgrades) && upgrades.length > MAX_BATCH_SIZE) {
    throw new ValidationError([{ path: 'upgrades', message: batchSizeRule(String(upgrades.length)) }]);
  }
  return parseWith(upgradeBatchSchema, payload).upgrades;
}

function parseWith<Schema extends z.ZodType>(schema: Schema, payload: object): z.infer<Schema> {
  const parsed = schema.safeParse(payload, { error: messageFor });
  if (parsed.success) return parsed.data;
  throw new ValidationError(toValidationIssues(parsed.error.issues));
}

/** Messages for the issues the schemas above do not word themselves (types, unknown keys). */
function messageFor(issue: z.core.$ZodRawIssue): string {
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

function toValidationIssues(zodIssues: readonly z.core.$ZodIssue[]): ValidationIssue[] {
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

function hasComparableVersions(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const { source_version, target_version } = value as Record<string, unknown>;
  return isVersion(source_version) && isVersion(target_version);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function lengthOf(input: unknown): string {
  return Array.isArray(input) ? String(input.length) : 'none';
}
