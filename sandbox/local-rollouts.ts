import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { DynaliteStandIn } from '../stand-ins/dynamodb.ts';
import {
  type Execution,
  type StepFunctionsStandIn,
  startStepFunctionsStandIn,
} from '../stand-ins/stepfunctions.ts';
import { runLocally } from '../test/support/local-state-machine.ts';
import { createLambdaContext } from './http-adapter.ts';
import { sandboxNames } from './local-services.ts';

/**
 * The rollout state machine in the sandbox: the definition as written in serverless.yml (the
 * `stepFunctions:` block), run on aws-local-stepfunctions, as test/state-machine.test.ts runs the
 * packaged one, with its Task states played by the rollouts function's own handlers in this process.
 * Executions are started by the function through the Step Functions stand-in (AWS_ENDPOINT_URL_SFN).
 * The Wait between ticks is shortened (`tickMs`), so a rollout runs in seconds, not minutes; a soak,
 * which the tick measures on its clock, is shortened by giving the function a fast clock (fastClock).
 */

export interface RolloutHandlers {
  plan(input: never): Promise<unknown>;
  advance(input: never, context: ReturnType<typeof createLambdaContext>): Promise<unknown>;
}

export interface LocalRollouts {
  sfn: StepFunctionsStandIn;
  /** What the rollouts function needs to reach the table and the state machine. */
  env: Record<string, string>;
  /** The handlers the Task states run; executions started before this fail. */
  use(handlers: RolloutHandlers): void;
  close(): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: serverless.yml is untyped YAML
type Yaml = any;

/** Every `Fn::GetAtt: [<logical id>, Arn]` becomes a Lambda ARN, as CloudFormation would resolve it. */
function resolveArns(value: Yaml, region: string): Yaml {
  if (Array.isArray(value)) return value.map((item) => resolveArns(item, region));
  if (typeof value !== 'object' || value === null) return value;
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return `arn:aws:lambda:${region}:000000000000:function:${getAtt[0]}`;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, resolveArns(item, region)]));
}

/** The rollout machine's definition from serverless.yml (its CloudFormation tags elsewhere are not needed). */
export async function rolloutDefinition(region: string): Promise<Record<string, unknown>> {
  const text = await readFile(new URL('../serverless.yml', import.meta.url), 'utf8');
  const service = parse(text, { logLevel: 'error' }) as Yaml;
  const definition = service?.stepFunctions?.stateMachines?.rollouts?.definition;
  if (definition === undefined) throw new Error('serverless.yml has no stepFunctions.stateMachines.rollouts');
  return resolveArns(definition, region);
}

/** A clock that runs `speed` times as fast as the wall clock from its creation on. */
export function fastClock(speed: number, origin = Date.now()): () => Date {
  return () => new Date(origin + (Date.now() - origin) * speed);
}

export async function startLocalRollouts(options: {
  dynamo: DynaliteStandIn;
  region: string;
  tickMs: number;
  /** An execution, as it starts and (through its `done`) ends. */
  onExecution?: (execution: Execution) => void;
  log: (text: string) => void;
}): Promise<LocalRollouts> {
  const definition = await rolloutDefinition(options.region);
  let handlers: RolloutHandlers | undefined;
  // Stopping the sandbox ends the executions still running (waiting at a gate, say).
  const stopping = new AbortController();
  const context = () =>
    createLambdaContext({
      functionName: `${sandboxNames.rolloutStateMachine}-advance`,
      region: options.region,
    });
  const sfn = await startStepFunctionsStandIn(async (execution) => {
    if (handlers === undefined) throw new Error('the rollout handlers are not loaded yet');
    const loaded = handlers;
    options.onExecution?.(execution);
    try {
      const run = await runLocally(
        definition,
        execution.input,
        {
          Plan: (input) => loaded.plan(input as never),
          Advance: (input) => loaded.advance(input as never, context()),
        },
        { Tick: options.tickMs },
        stopping.signal,
      );
      return run.output;
    } catch (error) {
      if (!stopping.signal.aborted)
        options.log(`sandbox: rollout execution ${execution.name} failed: ${String(error)}\n`);
      throw error;
    }
  });
  try {
    await options.dynamo.createTable(sandboxNames.rolloutTable);
  } catch (error) {
    await sfn.close();
    throw error;
  }
  return {
    sfn,
    env: {
      AWS_ENDPOINT_URL_SFN: sfn.url,
      ROLLOUT_TABLE: sandboxNames.rolloutTable,
      ROLLOUT_STATE_MACHINE_ARN: `arn:aws:states:${options.region}:000000000000:stateMachine:${sandboxNames.rolloutStateMachine}`,
    },
    use: (loaded) => {
      handlers = loaded;
    },
    close: async () => {
      stopping.abort();
      await sfn.close();
      await sfn.settled();
    },
  };
}
