import type { Scrubber } from './scrub.ts';

/** A request about to be sent to a Huawei Cloud API, as the authenticator needs to see it. */
export interface OutgoingRequest {
  method: string;
  url: URL;
  /** Headers already set, lower-case names (an AK/SK signature covers them). */
  headers: Readonly<Record<string, string>>;
  body: string;
  /** Tokens are project-scoped; AK/SK requests name the project in `X-Project-Id`. */
  projectId: string;
}

/**
 * Turns the credentials secret into the headers that authorise one request: `X-Auth-Token` for the
 * token and password forms, a request signature for the AK/SK form.
 */
export interface RequestAuthenticator {
  headersFor(request: OutgoingRequest): Promise<Record<string, string>>;
  /**
   * TaurusDB answered 401 to a request sent with `rejected` (the very object `headersFor` returned):
   * refresh the credentials so that the next `headersFor` gives fresh ones. A refresh replaces what is
   * cached only with what was read successfully. Concurrent 401s of one project share one refresh, and
   * a 401 to headers handed out before the last refresh needs none (the retry gets the newer ones).
   * Resolves once the next headers are ready; rejects when fresh ones cannot be had (IAM refused).
   */
  invalidate(projectId: string, rejected?: Readonly<Record<string, string>>): void | Promise<void>;
  /**
   * Removes from an upstream text every credential this authenticator holds or handed out (lib/huawei/auth/scrub.ts).
   * A function rather than the values, so that they cannot end up in a log or an error by accident.
   */
  redact?: Scrubber;
}
