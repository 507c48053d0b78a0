import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { RolloutServiceError } from '../errors.ts';
import { type AwsCallSettings, awsClientOptions } from './call-budget.ts';
import { awsErrorName } from './error-name.ts';

/**
 * Starts executions of the rollout state machine. The execution name is the second guard against a
 * redelivered request (after the record's conditional create): Step Functions Standard refuses a
 * second execution of one name for 90 days, so starting generation g of a rollout twice starts it
 * once; ExecutionAlreadyExists is that guard speaking, not a fault. Names are
 * `<rollout_id>-g<generation>`: a rollout id has at most 64 characters, so the name stays under
 * Step Functions' 80.
 */
export interface RolloutExecutions {
  start(rolloutId: string, generation: number): Promise<'started' | 'exists'>;
  /**
   * Step Functions' status of generation g (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, ...), or
   * `absent` when no execution of that name exists (a start that never happened).
   */
  statusOf(rolloutId: string, generation: number): Promise<string>;
}

const executionNameOf = (rolloutId: string, generation: number) => `${rolloutId}-g${generation}`;

export function createRolloutExecutions(options: {
  stateMachineArn: string;
  awsCalls?: AwsCallSettings;
  client?: SFNClient;
}): RolloutExecutions {
  const client = options.client ?? new SFNClient(awsClientOptions(options.awsCalls));
  // An execution's ARN is its machine's with `execution` for `stateMachine` and its name appended.
  const executionArnOf = (rolloutId: string, generation: number) =>
    `${options.stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionNameOf(rolloutId, generation)}`;
  return {
    async statusOf(rolloutId, generation) {
      try {
        const answer = await client.send(
          new DescribeExecutionCommand({ executionArn: executionArnOf(rolloutId, generation) }),
        );
        return answer.status ?? 'UNKNOWN';
      } catch (error) {
        if (error instanceof ExecutionDoesNotExist) return 'absent';
        throw new RolloutServiceError(
          `the execution of rollout ${rolloutId} (generation ${generation}) could not be read (${awsErrorName(error)}); nothing was started`,
          { cause: error },
        );
      }
    },
    async start(rolloutId, generation) {
      try {
        await client.send(
          new StartExecutionCommand({
            stateMachineArn: options.stateMachineArn,
            name: executionNameOf(rolloutId, generation),
            input: JSON.stringify({ rollout_id: rolloutId, generation, ticks: 0 }),
          }),
        );
        return 'started';
      } catch (error) {
        if (error instanceof ExecutionAlreadyExists) return 'exists';
        throw new RolloutServiceError(
          `the execution of rollout ${rolloutId} (generation ${generation}) could not be started (${awsErrorName(error)}); it is started again on the next try`,
          { cause: error },
        );
      }
    },
  };
}
