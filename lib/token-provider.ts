import { parseCredentials } from './credentials.ts';
import { createIamClient, type IamClient } from './iam-client.ts';
import type { OutgoingRequest, RequestAuthenticator } from './request-authenticator.ts';
import type { SecretReader } from './secrets.ts';

export interface TokenAuthenticatorOptions {
  /** Secrets Manager id of the credentials secret (`{"token"}` or `{"domain_name","user_name","password"}`). */
  secretId: string;
  /** Caches the secret itself; `invalidate` drops it there too. */
  secrets: SecretReader;
  /** Base URL of IAM; used for the default IAM client. */
  iamEndpoint: string;
  iam?: IamClient;
  now?: () => number;
  /** How long before `expires_at` a cached token is replaced. */
  refreshMarginMs?: number;
}

export interface TokenAuthenticator extends RequestAuthenticator {
  /** The X-Auth-Token value for `projectId`. */
  getToken(projectId: string): Promise<string>;
}

export const defaults = {
  refreshMarginMs: 5 * 60_000,
  // IAM tokens live 24 h; an expires_at further out (a clock gone wrong) is not trusted beyond that.
  maxReuseMs: 24 * 60 * 60_000,
};

interface CachedToken {
  token: Promise<string>;
  /** Undefined while the fetch is in flight: every caller shares it. */
  reuseUntil: number | undefined;
}

/**
 * X-Auth-Token authentication from the credentials secret. The token form is passed through as is
 * (the secret reader caches it); the password form is exchanged at IAM once per project and the
 * token reused until shortly before it expires.
 */
export function createTokenAuthenticator(options: TokenAuthenticatorOptions): TokenAuthenticator {
  const { secretId, secrets } = options;
  const iam = options.iam ?? createIamClient({ endpoint: options.iamEndpoint });
  const now = options.now ?? Date.now;
  const refreshMarginMs = options.refreshMarginMs ?? defaults.refreshMarginMs;
  const tokens = new Map<string, CachedToken>();

  function reuseUntil(fetchedAt: number, expiresAt: number): number {
    const lifetime = expiresAt - fetchedAt;
    // A margin longer than the token's life would mean a new IAM call for every request; a short-lived
    // token is reused for half its life instead.
    const margin = Math.min(refreshMarginMs, lifetime / 2);
    return fetchedAt + Math.min(lifetime - margin, defaults.maxReuseMs);
  }

  async function fetchToken(projectId: string): Promise<{ token: string; reuseUntil: number }> {
    const credentials = parseCredentials(secretId, await secrets.readJson(secretId));
    // Not cached here: the secret reader's own cache decides when a rotated token is picked up.
    if (credentials.kind === 'token')
      return { token: credentials.token, reuseUntil: Number.NEGATIVE_INFINITY };
    const fetchedAt = now();
    const issued = await iam.createProjectToken(credentials, projectId);
    return { token: issued.token, reuseUntil: reuseUntil(fetchedAt, issued.expiresAt) };
  }

  function getToken(projectId: string): Promise<string> {
    const cached = tokens.get(projectId);
    if (cached && (cached.reuseUntil === undefined || cached.reuseUntil > now())) return cached.token;
    const fetched = fetchToken(projectId);
    const entry: CachedToken = { token: fetched.then((result) => result.token), reuseUntil: undefined };
    tokens.set(projectId, entry);
    fetched.then(
      (result) => {
        entry.reuseUntil = result.reuseUntil;
      },
      // A failure is not cached: the next call tries again.
      () => {
        if (tokens.get(projectId) === entry) tokens.delete(projectId);
      },
    );
    return entry.token;
  }

  return {
    getToken,
    async headersFor(request: OutgoingRequest) {
      return { 'x-auth-token': await getToken(request.projectId) };
    },
    invalidate(projectId) {
      tokens.delete(projectId);
      // The secret may have been rotated too (a new password, or a new token in the token form).
      secrets.invalidate(secretId);
    },
  };
}
