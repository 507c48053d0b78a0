import type { RecordedRequest } from '../loopback-server.ts';
import { header } from './gateway.ts';
import { replies, type TaurusDbReply } from './replies.ts';
import { isVersion } from './versions.ts';

/**
 * What TaurusDB checks of `POST .../upgrade-version` before it looks at the proxy, per Huawei's API
 * reference: a JSON Content-Type, an X-Language of en-us or zh-cn when one is sent, and a body of
 * exactly `{source_version, target_version}`. The reference gives no code for a malformed request;
 * the stand-in answers DBS's generic 400 DBS.200001 "Parameter error.", saying what it objected to.
 */

const LANGUAGES = new Set(['en-us', 'zh-cn']);
const BODY_KEYS = 'source_version,target_version';

export interface UpgradeBody {
  sourceVersion: string;
  targetVersion: string;
  language: string | undefined;
}

export function parameterError(detail: string): TaurusDbReply {
  return replies.error(400, 'DBS.200001', `Parameter error. (stand-in: ${detail})`);
}

/** What is wrong with the body, or undefined when it is exactly the two versions. */
function bodyProblem(text: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'body is not JSON';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body is not a JSON object';
  const keys = Object.keys(body).sort();
  if (keys.join(',') !== BODY_KEYS)
    return `body keys must be exactly source_version and target_version, got ${keys.join(', ') || 'none'}`;
  for (const key of keys) {
    const value = (body as Record<string, unknown>)[key];
    if (typeof value !== 'string' || value === '') return `${key} must be a non-empty string`;
    if (!isVersion(value)) return `${key} must be a dotted version number such as 2.24.03.000`;
  }
  return undefined;
}

function problemOf(request: RecordedRequest): string | undefined {
  const contentType = header(request, 'content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(contentType))
    return `Content-Type must be application/json, got ${contentType || 'none'}`;
  const language = header(request, 'x-language');
  if (language !== undefined && !LANGUAGES.has(language))
    return `X-Language must be en-us or zh-cn, got ${language}`;
  return bodyProblem(request.body);
}

/** The upgrade's versions and language, or the 400 a malformed request gets. */
export function readUpgrade(request: RecordedRequest): UpgradeBody | { refused: TaurusDbReply } {
  const problem = problemOf(request);
  if (problem !== undefined) return { refused: parameterError(problem) };
  const body = JSON.parse(request.body) as { source_version: string; target_version: string };
  return {
    sourceVersion: body.source_version,
    targetVersion: body.target_version,
    language: header(request, 'x-language'),
  };
}
