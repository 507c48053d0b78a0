import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import {
  type LoopbackServer,
  type RecordedRequest,
  sendJson,
  startLoopbackServer,
} from './loopback-server.ts';

export interface IamUser {
  domainName: string;
  userName: string;
  password: string;
}

export interface IssuedToken {
  token: string;
  projectId: string;
  domainName: string;
  userName: string;
  issuedAt: string;
  expiresAt: string;
}

/** An answer given instead of the normal one; `drop` closes the connection without answering. */
export interface ScriptedAnswer {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  drop?: boolean;
  /**
   * Instead of `body`, this many bytes of JSON-looking filler, written in 64 KB pieces as the
   * connection takes them (never built whole); what was written is reported in `streamed`.
   */
  streamBytes?: number;
}

export interface IamStandInOptions {
  users?: IamUser[];
  /** Lifetime of issued tokens; Huawei's is 24 h. */
  tokenLifetimeMs?: number;
  /** Clock for issued_at/expires_at. */
  now?: () => number;
}

export interface IamStandIn {
  /** Base URL, what HUAWEI_IAM_ENDPOINT is set to. */
  url: string;
  server: LoopbackServer;
  requests: RecordedRequest[];
  /** Accepted users; replace or edit to rotate a password. */
  users: IamUser[];
  tokenLifetimeMs: number;
  /** Every token request waits this long before it is answered. */
  delayMs: number;
  /** The next token requests get these answers, in order, instead of the normal one. */
  answerNext(...answers: ScriptedAnswer[]): void;
  /** The next `count` token requests answer `status` with a Keystone-style error body. */
  failNext(count?: number, status?: number): void;
  /** Token requests wait until the returned function is called (or the stand-in is closed). */
  hold(): () => void;
  /** How many token requests arrived, for one project or in all, whatever they were answered. */
  tokenRequests(projectId?: string): number;
  /** Issued tokens not revoked: the ones a TaurusDB stand-in wired to this IAM accepts. */
  issuedTokens: IssuedToken[];
  /** Tokens taken out of `issuedTokens` by `revoke`, as IAM's token revocation does. */
  revokedTokens: IssuedToken[];
  revoke(token: string): void;
  /** Per `streamBytes` answer: the bytes written once it ended or its connection was closed. */
  streamed: Array<Promise<number>>;
  close(): Promise<void>;
}

const TOKENS_PATH = '/v3/auth/tokens';

/** The password-method, project-scoped request body, and nothing else. */
const passwordTokenRequest = z.strictObject({
  auth: z.strictObject({
    identity: z.strictObject({
      methods: z.tuple([z.literal('password')]),
      password: z.strictObject({
        user: z.strictObject({
          domain: z.strictObject({ name: z.string().min(1) }),
          name: z.string().min(1),
          password: z.string().min(1),
        }),
      }),
    }),
    scope: z.strictObject({ project: z.strictObject({ id: z.string().min(1) }) }),
  }),
});

function keystoneError(code: number, title: string, message: string) {
  return { error: { code, title, message } };
}

/** IAM writes expires_at with microseconds, e.g. `2020-01-04T09:05:22.701000Z`. */
function iamTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/Z$/, '000Z');
}

function projectIdOf(request: RecordedRequest): string | undefined {
  try {
    return passwordTokenRequest.parse(JSON.parse(request.body)).auth.scope.project.id;
  } catch {
    return undefined;
  }
}

function isTokenRequest(request: RecordedRequest): boolean {
  return request.method === 'POST' && request.url.split('?')[0] === TOKENS_PATH;
}

/**
 * Huawei IAM's `POST /v3/auth/tokens` (password method, project scope) on 127.0.0.1: checks the
 * method, path, content type and exact body structure, issues `MIIT-<project>-<n>` tokens in
 * `X-Subject-Token` with a 201, and refuses unknown users with a Keystone 401.
 */
export async function startIamStandIn(options: IamStandInOptions = {}): Promise<IamStandIn> {
  const now = options.now ?? Date.now;
  const script: ScriptedAnswer[] = [];
  const gates = new Set<Promise<void>>();
  const releases = new Set<() => void>();
  let counter = 0;

  const server = await startLoopbackServer(async (request, response) => {
    if (!isTokenRequest(request)) {
      sendJson(
        response,
        404,
        keystoneError(404, 'Not Found', `no route for ${request.method} ${request.url}`),
      );
      return;
    }
    if (standIn.delayMs > 0) await sleep(standIn.delayMs);
    await Promise.all(gates);
    const scripted = script.shift();
    if (scripted?.drop) {
      response.socket?.destroy();
      return;
    }
    if (scripted?.streamBytes !== undefined) {
      const written = streamFiller(response, scripted);
      standIn.streamed.push(written);
      await written;
      return;
    }
    if (scripted) {
      sendJson(response, scripted.status ?? 500, scripted.body ?? {}, scripted.headers);
      return;
    }
    if (!/^application\/json(;|$)/.test(String(request.headers['content-type'] ?? ''))) {
      sendJson(response, 415, keystoneError(415, 'Unsupported Media Type', 'expected application/json'));
      return;
    }
    let parsed: z.infer<typeof passwordTokenRequest>;
    try {
      parsed = passwordTokenRequest.parse(JSON.parse(request.body));
    } catch {
      sendJson(
        response,
        400,
        keystoneError(400, 'Bad Request', 'The request body is not a password token request.'),
      );
      return;
    }
    const { user } = parsed.auth.identity.password;
    const known = standIn.users.some(
      (candidate) =>
        candidate.domainName === user.domain.name &&
        candidate.userName === user.name &&
        candidate.password === user.password,
    );
    if (!known) {
      sendJson(response, 401, keystoneError(401, 'Unauthorized', 'The username or password is wrong.'));
      return;
    }
    counter += 1;
    const projectId = parsed.auth.scope.project.id;
    const issuedAtMs = now();
    const issued: IssuedToken = {
      token: `MIIT-${projectId}-${counter}`,
      projectId,
      domainName: user.domain.name,
      userName: user.name,
      issuedAt: iamTime(issuedAtMs),
      expiresAt: iamTime(issuedAtMs + standIn.tokenLifetimeMs),
    };
    standIn.issuedTokens.push(issued);
    sendJson(
      response,
      201,
      {
        token: {
          expires_at: issued.expiresAt,
          issued_at: issued.issuedAt,
          methods: ['password'],
          project: {
            id: projectId,
            name: 'eu-west-101',
            domain: { id: `dom-${user.domain.name}`, name: user.domain.name },
          },
          user: {
            domain: { id: `dom-${user.domain.name}`, name: user.domain.name },
            id: `usr-${user.name}`,
            name: user.name,
          },
          roles: [{ id: '0', name: 'op_gated_taurusdb' }],
        },
      },
      { 'x-subject-token': issued.token },
    );
  });

  const standIn: IamStandIn = {
    url: server.url,
    server,
    requests: server.requests,
    users: options.users ?? [],
    tokenLifetimeMs: options.tokenLifetimeMs ?? 24 * 60 * 60_000,
    delayMs: 0,
    answerNext(...answers) {
      script.push(...answers);
    },
    failNext(count = 1, status = 500) {
      for (let i = 0; i < count; i += 1) {
        script.push({ status, body: keystoneError(status, 'Internal Server Error', 'stand-in failure') });
      }
    },
    hold() {
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = () => {
          gates.delete(gate);
          releases.delete(release);
          resolve();
        };
      });
      gates.add(gate);
      releases.add(release);
      return release;
    },
    tokenRequests(projectId) {
      return server.requests.filter(
        (request) =>
          isTokenRequest(request) && (projectId === undefined || projectIdOf(request) === projectId),
      ).length;
    },
    issuedTokens: [],
    revokedTokens: [],
    revoke(token) {
      const index = standIn.issuedTokens.findIndex((issued) => issued.token === token);
      if (index === -1) throw new Error('the stand-in never issued that token');
      standIn.revokedTokens.push(...standIn.issuedTokens.splice(index, 1));
    },
    streamed: [],
    close() {
      for (const release of [...releases]) release();
      return server.close();
    },
  };
  return standIn;
}

const FILLER_CHUNK = Buffer.alloc(64 * 1024, 'a');

/** Resolves once the response can take more, or once its connection is gone. */
function writable(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

/**
 * Writes `streamBytes` of filler as fast as the connection takes it and resolves to the bytes written
 * when done, or when the client went away first (which is what a bounded reader does).
 */
async function streamFiller(response: ServerResponse, answer: ScriptedAnswer): Promise<number> {
  const total = answer.streamBytes ?? 0;
  response.writeHead(answer.status ?? 201, {
    'content-type': 'application/json',
    'content-length': total,
    ...answer.headers,
  });
  let written = 0;
  while (written < total && !response.destroyed && !response.socket?.destroyed) {
    const piece = FILLER_CHUNK.subarray(0, Math.min(FILLER_CHUNK.length, total - written));
    written += piece.length;
    if (!response.write(piece)) await writable(response);
  }
  if (!response.destroyed) response.end();
  return written;
}
