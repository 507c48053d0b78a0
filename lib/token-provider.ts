import { signRequest } from './aksk-signer.ts';
import {
  type HuaweiCredentials,
  type PasswordCredentials,
  parseCredentials,
  type TokenCredentials,
} from './credentials.ts';
import { SecretError } from './errors.ts';
import { createIamClient, type IamClient } from './iam-client.ts';
import type { OutgoingRequest, RequestAuthenticator } from './request-authenticator.ts';
import type { SecretReader } from './secrets.ts';

export interface TokenAuthenticatorOptions {
  /** Secrets Manager id of the credentials secret (any form lib/credentials.ts reads). */
  secretId: string;
  /** Caches the secret itself; `invalidate` drops it there too. */
  secrets: SecretReader;
  /** Base URL of IAM; used for the default IAM client. */
  iamEndpoint: string;
  iam?: IamClient;
  /** Epoch milliseconds: when tokens expire, and the `X-Sdk-Date` of AK/SK signatures. */
  now?: () => number;
  /** How long before `expires_at` a cached token is replaced. */
  refreshMarginMs?: number;
}

export interface TokenAuthenticator extends RequestAuthenticator {
  /** The X-Auth-Token value for `projectId`; refused for the AK/SK form, which has no token. */
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
 * The production RequestAuthenticator: what authorises a TaurusDB request, from the credentials secret.
 * - token form: sent as `X-Auth-Token` as is;
 * - password form: exchanged at IAM once per project, the token reused until shortly before it expires;
 * - AK/SK form: the request is signed (lib/aksk-signer.ts) and carries no token; nothing is cached
 *   beyond the secret, since a signature covers one request at one time.
 * The form is decided per request from the secret as the reader's cache holds it, so a secret rotated
 * from one form to another is followed as soon as it is read again (cache expiry, or a 401's invalidate).
 */
export function createTokenAuthenticator(options: TokenAuthenticatorOptions): TokenAuthenticator {
  const { secretId, secrets } = options;
  const iam = options.iam ?? createIamClient({ endpoint: options.iamEndpoint });
  const now = options.now ?? Date.now;
  const refreshMarginMs = options.refreshMarginMs ?? defaults.refreshMarginMs;
  const tokens = new Map<string, CachedToken>();

  // The reader hands out the same parsed JSON while the secret is cached, so each value is validated
  // once rather than on every request (a rotated secret is a new object and is validated afresh).
  const parsed = new WeakMap<object, HuaweiCredentials>();
  async function readCredentials(): Promise<HuaweiCredentials> {
    const value = await secrets.readJson(secretId);
    if (typeof value !== 'object' || value === null) return parseCredentials(secretId, value);
    let credentials = parsed.get(value);
    if (credentials === undefined) {
      credentials = parseCredentials(secretId, value);
      parsed.set(value, credentials);
    }
    return credentials;
  }

  function reuseUntil(fetchedAt: number, expiresAt: number): number {
    const lifetime = expiresAt - fetchedAt;
    // A margin longer than the token's life would mean a new IAM call for every request; a short-lived
    // token is reused for half its life instead.
    const margin = Math.min(refreshMarginMs, lifetime / 2);
    return fetchedAt + Math.min(lifetime - margin, defaults.maxReuseMs);
  }

  async function exchangePassword(credentials: PasswordCredentials, projectId: string) {
    const fetchedAt = now();
    const issued = await iam.createProjectToken(credentials, projectId);
    return { token: issued.token, reuseUntil: reuseUntil(fetchedAt, issued.expiresAt) };
  }

  function passwordToken(credentials: PasswordCredentials, projectId: string): Promise<string> {
    const cached = tokens.get(projectId);
    if (cached && (cached.reuseUntil === undefined || cached.reuseUntil > now())) return cached.token;
    const fetched = exchangePassword(credentials, projectId);
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

  function tokenFor(credentials: TokenCredentials | PasswordCredentials, projectId: string): Promise<string> {
    // The token form is not cached here: the secret reader's own cache decides when a rotated token is used.
    return credentials.kind === 'token'
      ? Promise.resolve(credentials.token)
      : passwordToken(credentials, projectId);
  }

  return {
    async getToken(projectId) {
      const credentials = await readCredentials();
      if (credentials.kind === 'aksk')
        throw new SecretError(
          `secret ${secretId} holds an AK/SK pair, which signs requests and gives no token`,
        );
      return tokenFor(credentials, projectId);
    },
    async headersFor(request: OutgoingRequest) {
      const credentials = await readCredentials();
      if (credentials.kind === 'aksk') return signRequest(credentials, request, new Date(now()));
      return { 'x-auth-token': await tokenFor(credentials, request.projectId) };
    },
    invalidate(projectId) {
      tokens.delete(projectId);
      // The secret may have been rotated too: a new password, token or access key, or another form.
      secrets.invalidate(secretId);
    },
  };
}
