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
} as const;
