import type { Dispatcher } from 'undici';
import * as z from 'zod';
import { AuthenticationError } from '../errors.ts';
import type { PasswordCredentials } from './auth/credentials.ts';
import { createScrubber, type Scrubber } from './auth/scrub.ts';
import {
  type Answer,
  type ConnectionPools,
  createConnectionPools,
  type PoolSettings,
  type Sent,
  send,
  socketErrorName,
} from './transport.ts';

/** A project-scoped token as IAM issued it. */
export interface IamToken {
  /** The `X-Subject-Token` value, sent as `X-Auth-Token` afterwards. */
  token: string;
  /** `token.expires_at` in epoch milliseconds. */
  expiresAt: number;
}

export interface IamClient {
  /** Exchanges an IAM user's password for a token scoped to `projectId`. Errors never carry the password or the token. */
  createProjectToken(credentials: PasswordCredentials, projectId: string): Promise<IamToken>;
}

export interface IamClientOptions {
  /** Base URL of IAM, e.g. `https://iam.myhuaweicloud.com` (no trailing slash). */
  endpoint: string;
  /** The container's connection pools, made once by the composition root; without them the client makes its own. */
  pools?: ConnectionPools;
  /** A dispatcher to use instead of the pools' (tests). */
  dispatcher?: Dispatcher;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  /** Largest answer read; a larger one is refused unread. */
  maxBodyBytes?: number;
}

export const defaults = {
  connectTimeoutMs: 3_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  // With `nocatalog=true` a token answer is a few KB (user, project, roles); anything far larger is no
  // answer this client can use, and reading it whole could exhaust the Lambda's memory.
  maxBodyBytes: 64 * 1024,
};

// The pool's own timeouts stay at the defaults: the per-request ones above override them.
const poolSettings: PoolSettings = {
  connectMs: defaults.connectTimeoutMs,
  headersMs: defaults.headersTimeoutMs,
  bodyMs: defaults.bodyTimeoutMs,
};

// A keep-alive socket that IAM closed while the Lambda was frozen fails on first use. Issuing a token
// has no side effect worth guarding, so such a request is sent once more on a fresh connection.
const staleConnectionCodes = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

const tokenBody = z.object({ token: z.object({ expires_at: z.iso.datetime({ offset: true }) }) });

// IAM answers errors in the Keystone shape or the Huawei API gateway shape. Only short identifiers
// are taken from them: free text could echo the user or domain name from the request.
const errorBody = z.union([
  z.object({ error_code: z.string() }).transform((body) => body.error_code),
  z
    .object({
      error: z.object({ code: z.union([z.string(), z.number()]).optional(), title: z.string().optional() }),
    })
    .transform(({ error }) =>
      typeof error.code === 'string' && error.code !== ''
        ? error.code
        : (error.title ?? String(error.code ?? '')),
    ),
]);
const safeIdentifier = /^[\w. -]{1,64}$/;

function errorCodeOf(text: string, redact: Scrubber): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const code = errorBody.safeParse(json).data;
  // An identifier can still be a password echoed back (the pattern would let one through).
  return code !== undefined && safeIdentifier.test(code) ? redact(code) : undefined;
}

function refusal(status: number, text: string, projectId: string, redact: Scrubber): AuthenticationError {
  const code = errorCodeOf(text, redact);
  const detail = code === undefined || code === String(status) ? `${status}` : `${status} ${code}`;
  if (status === 400 || status === 401 || status === 403) {
    return new AuthenticationError(`Huawei IAM refused the credentials for project ${projectId} (${detail})`);
  }
  return new AuthenticationError(`Huawei IAM failed to issue a token for project ${projectId} (${detail})`);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function createIamClient(options: IamClientOptions): IamClient {
  // `nocatalog` drops the service catalog, which is most of the answer and is never read here.
  const url = `${options.endpoint}/v3/auth/tokens?nocatalog=true`;
  const maxBodyBytes = options.maxBodyBytes ?? defaults.maxBodyBytes;
  // Taken from the pools on first use: a container whose credentials need no token adds no IAM pool.
  let dispatcher = options.dispatcher;

  async function sendOnce(body: string): Promise<Sent> {
    dispatcher ??= (options.pools ?? createConnectionPools()).dispatcherFor(poolSettings);
    let target: URL;
    try {
      target = new URL(url);
    } catch (error) {
      // An endpoint that is no URL fails like an unreachable IAM, as any transport failure does.
      return { kind: 'failed', error, written: false };
    }
    return send(dispatcher, {
      origin: target.origin,
      path: target.pathname + target.search,
      method: 'POST',
      // IAM documents this exact value.
      headers: { 'content-type': 'application/json;charset=utf8', accept: 'application/json' },
      body,
      headersTimeoutMs: options.headersTimeoutMs ?? defaults.headersTimeoutMs,
      bodyTimeoutMs: options.bodyTimeoutMs ?? defaults.bodyTimeoutMs,
      maxBodyBytes,
    });
  }

  async function exchange(body: string, projectId: string): Promise<Answer> {
    let sent = await sendOnce(body);
    if (sent.kind === 'failed' && staleConnectionCodes.has(socketErrorName(sent.error))) {
      sent = await sendOnce(body);
    }
    if (sent.kind === 'answered') return sent.answer;
    // Transport errors describe the socket, never the request body, so they are safe to keep as the cause.
    throw new AuthenticationError(
      `Huawei IAM did not answer the token request for project ${projectId} (${socketErrorName(sent.error)})`,
      { cause: sent.error },
    );
  }

  return {
    async createProjectToken(credentials, projectId) {
      const body = JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: {
                domain: { name: credentials.domainName },
                name: credentials.userName,
                password: credentials.password,
              },
            },
          },
          scope: { project: { id: projectId } },
        },
      });
      const answer = await exchange(body, projectId);
      if (answer.tooLarge) {
        // Not quoted, not even in part: it could be anything, the request echoed back included.
        throw new AuthenticationError(
          `Huawei IAM answered ${answer.status} with an answer too large to read (over ${maxBodyBytes} bytes) for project ${projectId}`,
        );
      }
      if (answer.status < 200 || answer.status >= 300) {
        throw refusal(answer.status, answer.body, projectId, createScrubber([credentials.password]));
      }
      const token = headerValue(answer.headers['x-subject-token']);
      if (!token) {
        throw new AuthenticationError(
          `Huawei IAM answered ${answer.status} without an X-Subject-Token for project ${projectId}`,
        );
      }
      let expiresAt = Number.NaN;
      try {
        const parsed = tokenBody.safeParse(JSON.parse(answer.body));
        if (parsed.success) expiresAt = Date.parse(parsed.data.token.expires_at);
      } catch {
        // Falls through to the error below; the parser's message would quote the body.
      }
      if (!Number.isFinite(expiresAt)) {
        throw new AuthenticationError(
          `Huawei IAM answered without a readable token.expires_at for project ${projectId}`,
        );
      }
      return { token, expiresAt };
    },
  };
}
