import { upstreamStatusCode } from '../errors.ts';
import type { OutcomeError } from './outcome.ts';

/**
 * The function's own error codes in Failed events and answers, beside TaurusDB's DBS.xxx codes. The
 * domain's: the step, the plan, the failure classification, the answers and the tracker all use them.
 */
export const ERROR_CODES = {
  /** The version read found the proxy at another version than the request's source_version. */
  versionMismatch: 'VERSION_MISMATCH',
  /** all_proxies on an instance that lists no proxy. */
  noProxies: 'NO_PROXIES',
  /** all_proxies expanded the delivery past the number of targets one invocation takes on. */
  tooManyTargets: 'TOO_MANY_TARGETS',
  /** The version read answered a version that is not a dotted number. */
  unreadableVersion: 'UNREADABLE_VERSION',
  /** The tracker saw the accepted upgrade's workflow end as Failed. */
  jobFailed: 'JOB_FAILED',
  /** TaurusDB or IAM refused the credentials even after they were fetched again. */
  authenticationFailed: 'AUTHENTICATION_FAILED',
  /** The credentials secret could not be read or has no usable form. */
  credentialsUnavailable: 'CREDENTIALS_UNAVAILABLE',
  /** The same delivery of the same target is being processed by another invocation (no event). */
  inProgress: 'IN_PROGRESS',
  /** TaurusDB kept refusing because the instance was busy until busy_retry_for ran out. */
  instanceBusy: 'INSTANCE_BUSY',
  /** A maintenance-window request found the instance FROZEN, FAILED, STORAGE FULL or without a window. */
  instanceUnavailable: 'INSTANCE_UNAVAILABLE',
} as const;

export type OwnErrorKind = keyof typeof ERROR_CODES;

/**
 * The HTTP status a single target answers with when its outcome carries one of the function's own
 * codes. An outcome is stored and replayed as JSON, so its code is all that is left of the error
 * that made it; this table is the one place where such a code becomes a status (an error class's own
 * status is `statusCode` in lib/errors.ts). A code that is not the function's own is TaurusDB's, and
 * its outcome answers like the UpstreamError it came from.
 */
export const OWN_ERROR_STATUS: Record<OwnErrorKind, number> = {
  // The proxy's state contradicts the request: the caller must look again, not retry as is.
  versionMismatch: 409,
  // all_proxies found nothing to upgrade.
  noProxies: 404,
  // Well formed, but more than one delivery takes on.
  tooManyTargets: 422,
  // The version read answered 200 with something unusable: a bad gateway, like an unreadable upgrade answer.
  unreadableVersion: 502,
  // Only the tracker publishes it; were it ever an answer, the upgrade's upstream failed.
  jobFailed: 502,
  // IAM (or TaurusDB) refused the credentials: the upstream side failed, as AuthenticationError says.
  authenticationFailed: 502,
  // The target could not be reached for want of credentials: a gateway failure for the caller, who
  // cannot tell it from an unreachable TaurusDB.
  credentialsUnavailable: 502,
  // Another invocation holds the step, as InProgressError says.
  inProgress: 409,
  // The instance's state conflicts with the upgrade, as TaurusDB's own busy refusals (409) say.
  instanceBusy: 409,
  // The instance's state refuses any upgrade until someone acts: a conflict, not a gateway failure.
  instanceUnavailable: 409,
};

const KIND_OF_CODE: ReadonlyMap<string, OwnErrorKind> = new Map(
  (Object.entries(ERROR_CODES) as [OwnErrorKind, string][]).map(([kind, code]) => [code, kind]),
);

/**
 * The HTTP status of a single target's failure: its own code's, else the status UpstreamError gives
 * TaurusDB's answer (an outcome without a status or with a 200 never reached a verdict: 502).
 */
export function failureStatus(failure: OutcomeError): number {
  const kind = failure.error_code === undefined ? undefined : KIND_OF_CODE.get(failure.error_code);
  return kind === undefined ? upstreamStatusCode(failure.status) : OWN_ERROR_STATUS[kind];
}

/**
 * TaurusDB's 400s that may mean "nothing to upgrade": DBS.05000008 "the current version is the
 * latest", and DBS.200001 "Parameter error", which Huawei's own Terraform acceptance test for this API
 * meets in the same case. Neither says for sure (a parameter error can be anything), so the step reads
 * the version: at or past the target it is a skip, below it the refusal stands.
 */
const MAYBE_ALREADY_LATEST: ReadonlySet<string> = new Set(['DBS.05000008', 'DBS.200001']);

export function mayMeanAlreadyLatest(failure: OutcomeError): boolean {
  return failure.status === 400 && MAYBE_ALREADY_LATEST.has(failure.error_code ?? '');
}
