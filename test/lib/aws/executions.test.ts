import { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRolloutExecutions } from '../../../lib/aws/executions.ts';
import { RolloutServiceError } from '../../../lib/errors.ts';
import { type LoopbackServer, sendJson, startLoopbackServer } from '../../../stand-ins/loopback-server.ts';
import { type StepFunctionsStandIn, startStepFunctionsStandIn } from '../../../stand-ins/stepfunctions.ts';

const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:rollouts';
const clientOf = (endpoint: string) =>
  new SFNClient({
    region: 'eu-west-1',
    endpoint,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' },
    maxAttempts: 1,
  });

describe('rollout executions (Step Functions StartExecution/DescribeExecution through the real SDK client)', () => {
  let sfn: StepFunctionsStandIn;
  // Answers every call with the refusal a test sets: what the stand-in never says.
  let refusing: LoopbackServer;
  let refusal: { status: number; body: Record<string, unknown> } = { status: 400, body: {} };

  beforeAll(async () => {
    sfn = await startStepFunctionsStandIn(async () => ({}));
    refusing = await startLoopbackServer((_request, response) =>
      sendJson(response, refusal.status, refusal.body, { 'content-type': 'application/x-amz-json-1.0' }),
    );
  });
  afterAll(async () => {
    await sfn?.close();
    await refusing?.close();
  });

  const executions = (endpoint = sfn.url) =>
    createRolloutExecutions({ stateMachineArn: MACHINE, client: clientOf(endpoint) });

  it('starts generation g as <rollout_id>-g<g> with the loop\'s first input, once: a second start is "exists"', async () => {
    expect(await executions().start('ro-2026-12-02', 3)).toBe('started');
    const started = sfn.executions.filter(({ name }) => name.startsWith('ro-2026-12-02'));
    expect(
      started.map(({ stateMachineArn, name, input }) => ({ stateMachineArn, name, input })),
    ).toStrictEqual([
      {
        stateMachineArn: MACHINE,
        name: 'ro-2026-12-02-g3',
        input: { rollout_id: 'ro-2026-12-02', generation: 3, ticks: 0 },
      },
    ]);
    await sfn.settled();
    // Ended, as every execution of this stand-in soon is: the name is taken for 90 days.
    expect(await executions().start('ro-2026-12-02', 3)).toBe('exists');
    expect(sfn.executions.filter(({ name }) => name === 'ro-2026-12-02-g3')).toHaveLength(1);
  });

  it("reads a generation's status by its execution ARN, and `absent` for a name never started", async () => {
    await executions().start('ro-status', 0);
    await sfn.settled();
    expect(await executions().statusOf('ro-status', 0)).toBe('SUCCEEDED');
    const [describe] = sfn.server.requests
      .filter((request) => request.headers['x-amz-target'] === 'AWSStepFunctions.DescribeExecution')
      .map((request) => JSON.parse(request.body) as unknown);
    expect(describe).toStrictEqual({
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:rollouts:ro-status-g0',
    });
    expect(await executions().statusOf('ro-status', 1)).toBe('absent');
  });

  it('any other refusal is a RolloutServiceError (503) naming the rollout, the generation and the error', async () => {
    refusal = { status: 400, body: { __type: 'AccessDeniedException', message: 'not authorized' } };
    const start = await executions(refusing.url)
      .start('ro-denied', 2)
      .catch((caught: unknown) => caught);
    expect(start).toBeInstanceOf(RolloutServiceError);
    expect((start as RolloutServiceError).statusCode).toBe(503);
    // The SDK's error stays the cause, for the log line that explains the 503.
    expect((start as Error).cause).toMatchObject({ name: 'AccessDeniedException' });
    expect((start as Error).message).toBe(
      'the execution of rollout ro-denied (generation 2) could not be started (AccessDeniedException); it is started again on the next try',
    );
    const read = await executions(refusing.url)
      .statusOf('ro-denied', 2)
      .catch((caught: unknown) => caught);
    expect(read).toBeInstanceOf(RolloutServiceError);
    expect((read as Error).message).toBe(
      'the execution of rollout ro-denied (generation 2) could not be read (AccessDeniedException); nothing was started',
    );
    expect((read as Error).cause).toMatchObject({ name: 'AccessDeniedException' });
  });

  it('an answer without a status (DescribeExecution always has one) is UNKNOWN, never absent or RUNNING', async () => {
    refusal = { status: 200, body: {} };
    expect(await executions(refusing.url).statusOf('ro-odd', 0)).toBe('UNKNOWN');
  });
});
