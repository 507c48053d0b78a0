import { createRequire } from 'node:module';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { StateMachine } from 'aws-local-stepfunctions';
import type { VirtualClock } from './virtual-clock.ts';

/** The engine's log entries (its package does not export the type). */
type EventLog = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

// biome-ignore lint/suspicious/noExplicitAny: a CloudFormation template is untyped JSON
type Template = any;

/** asl-validator ships no type definitions; this is the slice the suite uses. */
type AslValidator = (definition: unknown) => { isValid: boolean; errorsText(separator?: string): string };
export const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

/**
 * A state machine's definition read back from the packaged template: serverless-step-functions
 * writes DefinitionString as a Fn::Sub whose variables are the Fn::GetAtt of each function; each
 * becomes that function's ARN as CloudFormation would make it.
 */
export function definitionFromTemplate(template: Template, logicalId: string): Record<string, unknown> {
  const sub = template.Resources[logicalId].Properties.DefinitionString['Fn::Sub'];
  const [text, variables] = Array.isArray(sub) ? sub : [sub, {}];
  const resolved = (text as string).replace(/\$\{([^}]+)\}/g, (_match, name: string) => {
    const value = variables[name];
    const getAtt = value?.['Fn::GetAtt'];
    if (getAtt === undefined) throw new Error(`Fn::Sub variable ${name} is not a GetAtt`);
    const functionName = template.Resources[getAtt[0]].Properties.FunctionName;
    return `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`;
  });
  return JSON.parse(resolved);
}

/**
 * The history events one execution would have on AWS, from the local engine's log: a Task with a
 * plain Lambda-ARN resource is 5 (entered, scheduled, started, succeeded, exited), every other
 * state 2 (entered, exited), a retried attempt 3 more (failed, scheduled, started), and the
 * execution's own start and end 2. aws-local-stepfunctions does not enforce the 25,000 limit, so
 * the suite counts.
 */
export function awsHistoryEvents(log: readonly EventLog[]): number {
  let count = 0;
  for (const event of log) {
    if (
      event.type === 'ExecutionStarted' ||
      event.type === 'ExecutionSucceeded' ||
      event.type === 'ExecutionFailed'
    )
      count += 1;
    else if (event.type === 'StateEntered') count += event.state.type === 'Task' ? 4 : 1;
    else if (event.type === 'StateExited') count += 1;
    else if (event.type === 'StateRetried') count += 3;
  }
  return count;
}

/** State transitions as AWS bills them: every state entered, every retry of one. */
export function stateTransitions(log: readonly EventLog[]): number {
  return log.filter((event) => event.type === 'StateEntered' || event.type === 'StateRetried').length;
}

export interface LocalRun {
  output: unknown;
  historyEvents: number;
  stateTransitions: number;
  /** Task states run (each a Lambda invocation on AWS), retries included. */
  taskInvocations: number;
}

type WaitState = {
  Type: string;
  Seconds?: number;
  SecondsPath?: string;
  Timestamp?: string;
  TimestampPath?: string;
};

/** The value of a plain `$.a.b` path; the rollout machine's Waits need no more. */
function pathValue(path: string, input: unknown): unknown {
  if (!/^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(path)) throw new Error(`unsupported Wait path ${path}`);
  return path
    .slice(2)
    .split('.')
    .reduce<unknown>((value, name) => (value as Record<string, unknown> | undefined)?.[name], input);
}

/** How long a Wait state waits for this input, read from its definition as Step Functions would. */
export function waitMs(state: WaitState, input: unknown, now: number): number {
  if (state.Seconds !== undefined) return state.Seconds * 1000;
  if (state.SecondsPath !== undefined) return Number(pathValue(state.SecondsPath, input)) * 1000;
  const timestamp = state.Timestamp ?? (state.TimestampPath && String(pathValue(state.TimestampPath, input)));
  return timestamp ? Math.max(0, Date.parse(timestamp) - now) : 0;
}

/**
 * Runs the definition with its Task states overridden by in-process handlers, its Wait states
 * shortened (`waits`), or, given a virtual clock, waited on that clock: each Wait state the
 * execution enters (its seconds computed from its definition and input) is slept on the clock before
 * the next Task runs, the execution being one actor of the clock.
 */
export async function runLocally(
  definition: Record<string, unknown>,
  input: unknown,
  tasks: Record<string, (input: unknown) => Promise<unknown>>,
  /** Wait state name → milliseconds it waits instead (with a clock: ignored). */
  waits: Record<string, number>,
  /** Aborts the execution (the sandbox's stop); the result then rejects with ExecutionAbortedError. */
  signal?: AbortSignal,
  clock?: VirtualClock,
): Promise<LocalRun> {
  if (clock === undefined) return execute(definition, input, tasks, waits, signal);
  return clock.actor(() => execute(definition, input, tasks, waits, signal, clock));
}

async function execute(
  definition: Record<string, unknown>,
  input: unknown,
  tasks: Record<string, (input: unknown) => Promise<unknown>>,
  waits: Record<string, number>,
  signal: AbortSignal | undefined,
  clock?: VirtualClock,
): Promise<LocalRun> {
  const states = definition.States as Record<string, WaitState>;
  let owed = 0;
  let invocations = 0;
  // On a clock the engine does not wait (every Wait overridden to 0 ms); the log says which Wait was
  // entered with what input, and the next task first sleeps that long on the clock. One event-loop
  // turn lets the log catch up: the engine dispatches its events before it calls the task.
  const settleWaits = async () => {
    if (clock === undefined) return;
    await nextTurn();
    const ms = owed;
    owed = 0;
    if (ms > 0) await clock.sleep(ms);
  };
  const counted = Object.fromEntries(
    Object.entries(tasks).map(([name, task]) => [
      name,
      async (taskInput: unknown) => {
        await settleWaits();
        invocations += 1;
        return task(taskInput);
      },
    ]),
  );
  const waitStates = Object.keys(states).filter((name) => states[name]?.Type === 'Wait');
  // The machine is built from a copy: the engine must not change the definition the test checks.
  const machine = new StateMachine(structuredClone(definition) as never, {
    validationOptions: { checkArn: true, checkPaths: true },
  });
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: counted as never,
      waitTimeOverrides: clock ? Object.fromEntries(waitStates.map((name) => [name, 0])) : waits,
      retryIntervalOverrides: Object.fromEntries(Object.keys(tasks).map((name) => [name, 0])),
    },
  });
  if (signal?.aborted) execution.abort();
  signal?.addEventListener('abort', () => execution.abort(), { once: true });
  const log: EventLog[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) {
      log.push(event);
      if (clock && event.type === 'StateEntered' && event.state.type === 'Wait') {
        owed += waitMs(states[event.state.name] as WaitState, event.state.input, clock.now());
      }
    }
  })();
  const output = await execution.result;
  await collecting;
  await settleWaits();
  return {
    output,
    historyEvents: awsHistoryEvents(log),
    stateTransitions: stateTransitions(log),
    taskInvocations: invocations,
  };
}
