/**
 * TaurusDB's answers: each body parsed once (`bodyOf`), then read against the schema of the call
 * (`decode`) or, for an error status, as the error body (`errorFields`). Texts are returned as
 * TaurusDB sent them; scrubbing them of credentials is the caller's (lib/huawei/taurusdb-errors.ts and
 * lib/huawei/taurusdb-client.ts).
 */
import * as z from 'zod';
import {
  type InstanceDetail,
  type JobStatus,
  type ListedProxy,
  MAX_ADVISORY_TEXT,
  type ProxyAdvisory,
  type ProxyVersion,
  type UpdateResultItem,
} from './taurusdb-api.ts';
import type { Answer } from './transport.ts';

// TaurusDB answers are a few hundred bytes; a far larger body is not an answer this client can use.
export const maxBodyBytes = 64 * 1024;

/** A body parsed once: its JSON, or what it is instead (for messages, never quoting it). */
export type Body = { readable: true; json: unknown } | { readable: false; problem: string };

export function bodyOf(answer: Answer): Body {
  if (answer.tooLarge) return { readable: false, problem: `a body larger than ${maxBodyBytes} bytes` };
  try {
    return { readable: true, json: JSON.parse(answer.body) };
  } catch {
    // The parser's message is not kept: it quotes the body.
    if (answer.body.trim() === '') return { readable: false, problem: 'an empty body' };
    // The body itself is not quoted: it can be any size and any content (HTML error pages).
    const type = answer.contentType?.split(';')[0]?.trim() || 'no content-type';
    return { readable: false, problem: `a non-JSON body (${type})` };
  }
}

/** What a readable JSON body of the wrong shape is called when no schema says more. */
export const unknownShape = 'a JSON body of unknown shape';

export type Decoded<T> = { ok: true; value: T } | { ok: false; shape: string };

/** The body as `schema` reads it, or a description of what it is instead; `what` names the expected answer. */
export function decode<T>(schema: z.ZodType<T>, body: Body, what: string): Decoded<T> {
  if (!body.readable) return { ok: false, shape: body.problem };
  const parsed = schema.safeParse(body.json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue ? `${issuePath(issue.path)}: ${issue.message}` : 'unknown shape';
  return { ok: false, shape: `a body that is not ${what} (${where})` };
}

const nullableText = z
  .string()
  .nullish()
  .transform((value) => value ?? null);

// The seed's own example omits instance_id; any of the four may be missing or null.
export const upgradeAnswer: z.ZodType<UpdateResultItem[]> = z
  .object({
    update_result: z.array(
      z.object({
        instance_id: nullableText,
        workflow_id: nullableText,
        state: nullableText,
        error_message: nullableText,
      }),
    ),
  })
  .transform((answer) => answer.update_result);

const advisoryText = z
  .string()
  .nullish()
  .transform((text) =>
    text === undefined || text === null || text === ''
      ? null
      : text.length > MAX_ADVISORY_TEXT
        ? `${text.slice(0, MAX_ADVISORY_TEXT)}…`
        : text,
  );

// Every SDK types these as optional, and the advisory is advice: an unreadable one is left out
// (.catch) rather than failing the version read that decides the upgrade.
const advisory: z.ZodType<ProxyAdvisory | undefined> = z
  .object({
    level: z
      .int()
      .nullish()
      .transform((level) => level ?? null),
    suggest: advisoryText,
    influence: advisoryText,
    guidance: advisoryText,
    service_impact_duration: advisoryText,
    upgrade_duration: advisoryText,
  })
  .nullish()
  .transform((risk) => risk ?? undefined)
  .catch(undefined);

export const proxyVersionAnswer: z.ZodType<ProxyVersion> = z
  .object({
    current_version: z.string().min(1),
    latest_version: z.string().min(1),
    can_upgrade: z.boolean(),
    risk: advisory,
  })
  .transform(({ risk, ...versions }) => (risk === undefined ? versions : { ...versions, risk }));

/** One page of the proxy list; `total` is TaurusDB's count of them all, when it gives one. */
export interface ProxyPage {
  proxies: ListedProxy[];
  total: number | undefined;
}

export const proxyPageAnswer: z.ZodType<ProxyPage> = z
  .object({
    proxy_list: z
      .array(
        z.object({
          proxy: z.object({ pool_id: z.string().min(1), name: nullableText, status: nullableText }),
        }),
      )
      .nullish()
      .transform((list) => list ?? []),
    total_count: z.number().int().nonnegative().nullish(),
  })
  .transform((page) => ({
    proxies: page.proxy_list.map(({ proxy }) => ({
      proxyId: proxy.pool_id,
      name: proxy.name,
      status: proxy.status,
    })),
    total: page.total_count ?? undefined,
  }));

export const instanceAnswer: z.ZodType<InstanceDetail> = z
  .object({ instance: z.object({ status: nullableText, maintenance_window: nullableText }) })
  .transform((answer) => answer.instance);

export const jobAnswer: z.ZodType<JobStatus> = z
  .object({
    job: z.object({
      id: z.string().min(1),
      name: nullableText,
      status: z.string().min(1),
      created: nullableText,
      ended: nullableText,
      fail_reason: nullableText,
    }),
  })
  .transform((answer) => answer.job);

const optionalText = z.string().nullish();
// DBS answers `{error_code, error_msg}`; some gateways answer `{error: {code, message}}`.
const errorBody = z.union([
  z.object({ error_code: z.string(), error_msg: optionalText }),
  z.object({ error_msg: z.string(), error_code: optionalText }),
  z.object({ error: z.object({ code: optionalText, message: optionalText }) }),
]);

/** The code and message of an error body in either shape, as sent; undefined for any other body. */
export function errorFields(
  body: Body,
): { code: string | null | undefined; message: string | null | undefined } | undefined {
  if (!body.readable) return undefined;
  const parsed = errorBody.safeParse(body.json);
  if (!parsed.success) return undefined;
  const fields = parsed.data;
  return 'error' in fields
    ? { code: fields.error.code, message: fields.error.message }
    : { code: fields.error_code, message: fields.error_msg };
}

function issuePath(path: readonly PropertyKey[]): string {
  return (
    path.reduce<string>(
      (text, key) =>
        typeof key === 'number' ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key),
      '',
    ) || '(root)'
  );
}
