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
  /** TaurusDB answered 401: forget the cached token and secret so the next call fetches fresh ones. */
  invalidate(projectId: string): void;
}
