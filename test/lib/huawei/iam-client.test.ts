import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuthenticationError } from '../../../lib/errors.ts';
import type { PasswordCredentials } from '../../../lib/huawei/auth/credentials.ts';
import { createIamClient } from '../../../lib/huawei/iam-client.ts';
import { createConnectionPools } from '../../../lib/huawei/transport.ts';
import { type IamStandIn, startIamStandIn } from '../../../stand-ins/iam.ts';
import { describeError } from '../../support/secret-leaks.ts';

const PROJECT_ID = '054e292c9880d4992f02c0196d3ea468';
const deployer: PasswordCredentials = {
  kind: 'password',
  domainName: 'acme-domain',
  userName: 'deployer-user',
  password: 'Pa55w0rd-IAM-7f3c',
};
const wrongPassword: PasswordCredentials = { ...deployer, password: 'Wr0ng-Pa55-91ab' };

async function rejection(promise: Promise<unknown>): Promise<AuthenticationError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the token request to fail');
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  return error as AuthenticationError;
}

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('createIamClient', () => {
  let iam: IamStandIn;

  beforeAll(async () => {
    iam = await startIamStandIn({ users: [deployer] });
  });
  afterAll(() => iam.close());
  beforeEach(() => {
    iam.requests.length = 0;
    iam.issuedTokens.length = 0;
    iam.streamed.length = 0;
  });

  it('sends the documented password-method, project-scoped request and returns the subject token', async () => {
    const token = await createIamClient({ endpoint: iam.url }).createProjectToken(deployer, PROJECT_ID);

    expect(iam.requests).toHaveLength(1);
    const [sent] = iam.requests;
    expect(sent?.method).toBe('POST');
    expect(sent?.url).toBe('/v3/auth/tokens?nocatalog=true');
    expect(sent?.headers['content-type']).toBe('application/json;charset=utf8');
    expect(JSON.parse(sent?.body ?? '')).toStrictEqual({
      auth: {
        identity: {
          methods: ['password'],
          password: {
            user: { domain: { name: 'acme-domain' }, name: 'deployer-user', password: 'Pa55w0rd-IAM-7f3c' },
          },
        },
        scope: { project: { id: PROJECT_ID } },
      },
    });
    const [issued] = iam.issuedTokens;
    expect(token).toEqual({ token: issued?.token, expiresAt: Date.parse(issued?.expiresAt ?? '') });
    expect(issued?.expiresAt).toMatch(/\.\d{6}Z$/);
  });

  it("keeps one connection per container for every client given the container's pools", async () => {
    const own = await startIamStandIn({ users: [deployer] });
    // What the composition root does: one set of pools per container, handed to every client.
    const pools = createConnectionPools();
    try {
      for (const projectId of [PROJECT_ID, 'project-two', 'project-three']) {
        await createIamClient({ endpoint: own.url, pools }).createProjectToken(deployer, projectId);
        // undici marks a connection idle one tick after its body ends; real token requests are hours apart.
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(own.tokenRequests()).toBe(3);
      expect(own.server.connections()).toBe(1);
    } finally {
      await pools.close();
      await own.close();
    }
  });

  it('reports refused credentials with the project id and IAM title, never the password', async () => {
    const error = await rejection(
      createIamClient({ endpoint: iam.url }).createProjectToken(wrongPassword, PROJECT_ID),
    );
    expect(error.message).toBe(
      `Huawei IAM refused the credentials for project ${PROJECT_ID} (401 Unauthorized)`,
    );
    expect(error.statusCode).toBe(502);
    const shown = describeError(error);
    for (const value of [wrongPassword.password, wrongPassword.userName, wrongPassword.domainName]) {
      expect(shown).not.toContain(value);
    }
  });

  it('takes the error code of an API gateway style answer but not its free text', async () => {
    iam.answerNext({
      status: 403,
      body: { error_code: 'IAM.0101', error_msg: 'The user deployer-user of acme-domain is locked.' },
    });
    const error = await rejection(
      createIamClient({ endpoint: iam.url }).createProjectToken(deployer, PROJECT_ID),
    );
    expect(error.message).toBe(`Huawei IAM refused the credentials for project ${PROJECT_ID} (403 IAM.0101)`);
    expect(describeError(error)).not.toContain('deployer-user');
  });

  it('reports an IAM failure once, without retrying it', async () => {
    iam.failNext(1, 500);
    const error = await rejection(
      createIamClient({ endpoint: iam.url }).createProjectToken(deployer, PROJECT_ID),
    );
    expect(error.message).toBe(
      `Huawei IAM failed to issue a token for project ${PROJECT_ID} (500 Internal Server Error)`,
    );
    expect(error.statusCode).toBe(502);
    expect(iam.tokenRequests()).toBe(1);
  });

  it.each([
    [
      'no X-Subject-Token',
      { status: 201, body: { token: { expires_at: '2026-11-28T10:00:00.000000Z' } } },
      `Huawei IAM answered 201 without an X-Subject-Token for project ${PROJECT_ID}`,
    ],
    [
      'an unparsable expires_at',
      {
        status: 201,
        body: { token: { expires_at: 'tomorrow' } },
        headers: { 'x-subject-token': 'MIIT-leak-1' },
      },
      `Huawei IAM answered without a readable token.expires_at for project ${PROJECT_ID}`,
    ],
    [
      'a date without a time',
      {
        status: 201,
        body: { token: { expires_at: '2026-11-28' } },
        headers: { 'x-subject-token': 'MIIT-leak-2' },
      },
      `Huawei IAM answered without a readable token.expires_at for project ${PROJECT_ID}`,
    ],
    [
      'a body that is not JSON',
      {
        status: 201,
        body: 'not json',
        headers: { 'x-subject-token': 'MIIT-leak-3', 'content-type': 'text/plain' },
      },
      `Huawei IAM answered without a readable token.expires_at for project ${PROJECT_ID}`,
    ],
  ])('refuses an answer with %s', async (_label, answer, message) => {
    iam.answerNext(answer);
    const error = await rejection(
      createIamClient({ endpoint: iam.url }).createProjectToken(deployer, PROJECT_ID),
    );
    expect(error.message).toBe(message);
    expect(describeError(error)).not.toMatch(/MIIT-leak/);
  });

  it('refuses a 50 MB answer after reading no more than its cap, quoting none of it', async () => {
    const cap = 64 * 1024;
    const total = 50 * 1024 * 1024;
    iam.answerNext({ status: 201, streamBytes: total, headers: { 'x-subject-token': 'MIIT-huge-answer-1' } });
    const error = await rejection(
      createIamClient({ endpoint: iam.url }).createProjectToken(deployer, PROJECT_ID),
    );

    expect(error.message).toBe(
      `Huawei IAM answered 201 with an answer too large to read (over ${cap} bytes) for project ${PROJECT_ID}`,
    );
    expect(describeError(error)).not.toMatch(/MIIT-huge|aaaaaaaaaaaa/);
    // The client hung up at the cap: IAM got rid of no more than the sockets' kernel buffers hold
    // (a few MB on loopback), far from the 50 MB it meant to send.
    const [streamed] = iam.streamed;
    const written = await streamed;
    expect(written).toBeGreaterThan(cap);
    expect(written).toBeLessThan(total / 4);
  });

  it('refuses an oversized error answer the same way, without reading it whole', async () => {
    iam.answerNext({ status: 500, streamBytes: 5 * 1024 * 1024 });
    const error = await rejection(
      createIamClient({ endpoint: iam.url, maxBodyBytes: 1024 }).createProjectToken(deployer, PROJECT_ID),
    );
    expect(error.message).toBe(
      `Huawei IAM answered 500 with an answer too large to read (over 1024 bytes) for project ${PROJECT_ID}`,
    );
  });

  it('scrubs the password from an error code that echoes it', async () => {
    const echoing: PasswordCredentials = { ...deployer, password: 'Echoed-Pa55word-4d2a' };
    iam.answerNext({ status: 401, body: { error_code: `bad ${echoing.password.slice(1, 15)}` } });
    const error = await rejection(
      createIamClient({ endpoint: iam.url }).createProjectToken(echoing, PROJECT_ID),
    );
    expect(error.message).toBe(
      `Huawei IAM refused the credentials for project ${PROJECT_ID} (401 bad [redacted])`,
    );
  });

  it('sends the request once more when IAM drops a reused connection', async () => {
    iam.answerNext({ drop: true });
    const token = await createIamClient({ endpoint: iam.url }).createProjectToken(deployer, PROJECT_ID);
    expect(iam.tokenRequests()).toBe(2);
    expect(token.token).toBe(iam.issuedTokens[0]?.token);
  });

  it('reports an unreachable IAM with the socket error as cause, free of the password', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const error = await rejection(createIamClient({ endpoint }).createProjectToken(deployer, PROJECT_ID));
    expect(error.message).toBe(
      `Huawei IAM did not answer the token request for project ${PROJECT_ID} (ECONNREFUSED)`,
    );
    expect(error.cause).toBeInstanceOf(Error);
    expect(describeError(error)).not.toContain(deployer.password);
  });

  it('gives up when IAM does not answer within the headers timeout', async () => {
    const release = iam.hold();
    try {
      const client = createIamClient({ endpoint: iam.url, headersTimeoutMs: 100 });
      const error = await rejection(client.createProjectToken(deployer, PROJECT_ID));
      expect(error.message).toBe(
        `Huawei IAM did not answer the token request for project ${PROJECT_ID} (UND_ERR_HEADERS_TIMEOUT)`,
      );
      expect(describeError(error)).not.toContain(deployer.password);
    } finally {
      release();
    }
  });
});
