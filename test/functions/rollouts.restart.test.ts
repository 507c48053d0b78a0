import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Execution } from '../../stand-ins/stepfunctions.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { type RolloutWorld, startRolloutWorld } from '../support/rollout-world.ts';

/**
 * A rollout whose execution failed (a Plan or Advance task past its Retry, an execution stopped by
 * hand) has nothing driving it: its record stays `running`. `POST /rollouts/{id}/resume` reads the
 * latest execution through DescribeExecution on the Step Functions stand-in and, when it is not
 * RUNNING, starts the next generation; the record's per-target guard keeps every proxy to one POST.
 */

let world: RolloutWorld;
let clock = new Date('2026-12-01T10:00:00Z');
/** Generation 0 of every rollout fails; later ones run until the test releases them. */
let release: () => void = () => undefined;
const released = new Promise<void>((resolve) => {
  release = resolve;
});

beforeAll(async () => {
  world = await startRolloutWorld(
    ['restart', 'absent'].flatMap((fleet) =>
      [0, 1, 2].map((index) => ({
        projectId: `project-${fleet}`,
        instanceId: `${fleet}-i${index}`,
        proxyId: `${fleet}-${index}`,
        version: '2.23.12.000',
      })),
    ),
    {
      now: () => clock,
      run: async (execution: Execution) => {
        if (execution.name.endsWith('-g0'))
          throw new Error('States.TaskFailed: Advance failed past its Retry');
        await released;
        return {};
      },
    },
  );
});

afterAll(async () => {
  release();
  await world?.close();
});

const executionsOf = (rolloutId: string) =>
  world.sfn.executions
    .filter((execution) => (execution.input as { rollout_id: string }).rollout_id === rolloutId)
    .map((execution) => [execution.name, execution.status]);

async function startFailing(fleet: string) {
  const rolloutId = `${fleet}-rollout`;
  await world.invoke({
    rollout_id: rolloutId,
    targets: [0, 1, 2].map((index) => ({
      project_id: `project-${fleet}`,
      instance_id: `${fleet}-i${index}`,
      proxy_id: `${fleet}-${index}`,
    })),
    target_version: '2.24.03.000',
    waves: [{ percent: 100 }],
    concurrency: 1,
  });
  // What generation 0 did before it failed: the plan and one tick (one POST).
  const input = { rollout_id: rolloutId, generation: 0, ticks: 0 };
  await world.handlers.plan(input);
  await world.handlers.advance(input, lambdaContext());
  await world.sfn.executions.find((execution) => execution.name === `${rolloutId}-g0`)?.done;
  expect(executionsOf(rolloutId)).toEqual([[`${rolloutId}-g0`, 'FAILED']]);
  return rolloutId;
}

const postsOf = (fleet: string) =>
  world.taurusDb.upgrades.filter((upgrade) => upgrade.projectId === `project-${fleet}`).map((u) => u.proxyId);

describe('POST /rollouts/{id}/resume of a rollout whose execution failed', () => {
  it('starts the next generation once, while it runs starts nothing more, and the rollout ends with one POST per proxy', async () => {
    const rolloutId = await startFailing('restart');
    expect((await world.status(rolloutId)).json).toMatchObject({ status: 'running', generation: 0 });
    expect(postsOf('restart')).toEqual(['restart-0']);

    const resumed = await world.control(rolloutId, 'resume');
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json).toMatchObject({ status: 'running', generation: 1 });
    expect(executionsOf(rolloutId)).toEqual([
      [`${rolloutId}-g0`, 'FAILED'],
      [`${rolloutId}-g1`, 'RUNNING'],
    ]);
    const restarted = world.sfn.executions.find((execution) => execution.name === `${rolloutId}-g1`);
    expect(restarted?.input).toEqual({ rollout_id: rolloutId, generation: 1, ticks: 0 });

    // A second resume (a redelivery, or on-call pressing twice) while generation 1 runs: nothing new.
    expect((await world.control(rolloutId, 'resume')).json).toMatchObject({ generation: 1 });
    expect(executionsOf(rolloutId)).toHaveLength(2);

    // Generation 1's ticks finish the rollout: the proxy in flight is followed, none is sent twice.
    const input = { rollout_id: rolloutId, generation: 1, ticks: 0 };
    let answer = await world.handlers.advance(input, lambdaContext());
    for (let tick = 1; tick < 20 && !answer.done; tick += 1) {
      clock = new Date(clock.getTime() + 60_000);
      answer = await world.handlers.advance({ ...input, ticks: tick }, lambdaContext());
    }
    expect(answer).toMatchObject({ status: 'completed', counts: { completed: 3 } });
    expect(postsOf('restart')).toEqual(['restart-0', 'restart-1', 'restart-2']);
  });

  it('an execution named in the record but never started (its StartExecution failed) is started under that name', async () => {
    const rolloutId = await startFailing('absent');
    // The Advance task claimed generation 1 and died before StartExecution reached Step Functions.
    await world.dynalite.client().send(
      new UpdateItemCommand({
        TableName: 'rollouts',
        Key: { id: { S: rolloutId } },
        UpdateExpression: 'SET generation = :g',
        ExpressionAttributeValues: { ':g': { N: '1' } },
      }),
    );
    expect((await world.control(rolloutId, 'resume')).json).toMatchObject({ generation: 1 });
    expect(executionsOf(rolloutId)).toEqual([
      [`${rolloutId}-g0`, 'FAILED'],
      [`${rolloutId}-g1`, 'RUNNING'],
    ]);
  });

  it('a finished rollout is not restarted: 409 naming its status', async () => {
    release();
    await world.sfn.settled();
    const answer = await world.control('restart-rollout', 'resume');
    expect(answer.statusCode).toBe(409);
    expect(JSON.stringify(answer.json)).toContain('is completed');
    expect(executionsOf('restart-rollout')).toEqual([
      ['restart-rollout-g0', 'FAILED'],
      ['restart-rollout-g1', 'SUCCEEDED'],
    ]);
  });
});
