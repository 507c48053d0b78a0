import { type LoopbackServer, sendJson, startLoopbackServer } from './loopback-server.ts';

/**
 * AWS Step Functions' StartExecution and DescribeExecution over the real protocol (AWS JSON 1.0,
 * `X-Amz-Target: AWSStepFunctions.<Operation>`), for `AWS_ENDPOINT_URL_SFN`. A started execution is
 * handed to `run` (a test or the sandbox runs it on aws-local-stepfunctions with the project's
 * handlers); its end sets the status DescribeExecution reports. An execution name is unique per
 * state machine for 90 days, as on AWS: a second StartExecution of a name with the same input answers
 * the first execution's ARN while it runs; once it ended, or with another input, ExecutionAlreadyExists.
 */
export interface Execution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  input: unknown;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  output?: unknown;
  error?: string;
  /** Settles when the execution ends. */
  done: Promise<void>;
}

export interface StepFunctionsStandIn {
  url: string;
  server: LoopbackServer;
  executions: Execution[];
  /** Every execution, started ones included, ended. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export async function startStepFunctionsStandIn(
  run: (execution: Execution) => Promise<unknown>,
): Promise<StepFunctionsStandIn> {
  const executions: Execution[] = [];
  const fail = (response: Parameters<typeof sendJson>[0], type: string, message: string) =>
    sendJson(response, 400, { __type: type, message }, { 'content-type': 'application/x-amz-json-1.0' });

  const server = await startLoopbackServer((request, response) => {
    const operation = String(request.headers['x-amz-target'] ?? '').replace('AWSStepFunctions.', '');
    const body = JSON.parse(request.body || '{}') as Record<string, string>;
    if (operation === 'StartExecution') {
      const { stateMachineArn = '', name = '', input = '{}' } = body;
      const existing = executions.find((e) => e.stateMachineArn === stateMachineArn && e.name === name);
      if (existing !== undefined) {
        // AWS: the same name and input while the execution is open is a success; a closed execution
        // or another input is ExecutionAlreadyExists.
        if (
          existing.status === 'RUNNING' &&
          JSON.stringify(existing.input) === JSON.stringify(JSON.parse(input))
        ) {
          sendJson(response, 200, { executionArn: existing.executionArn, startDate: Date.now() / 1000 });
        } else {
          fail(response, 'ExecutionAlreadyExists', `Execution Already Exists: '${existing.executionArn}'`);
        }
        return;
      }
      const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
      const execution = {
        executionArn,
        stateMachineArn,
        name,
        input: JSON.parse(input),
        status: 'RUNNING',
      } as Execution;
      // Started after the answer, as on AWS: the caller does not wait for the execution.
      execution.done = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => run(execution))
        .then(
          (output) => {
            execution.status = 'SUCCEEDED';
            execution.output = output;
          },
          (error: unknown) => {
            execution.status = 'FAILED';
            execution.error = String(error);
          },
        );
      executions.push(execution);
      sendJson(response, 200, { executionArn, startDate: Date.now() / 1000 });
      return;
    }
    if (operation === 'DescribeExecution') {
      const execution = executions.find((e) => e.executionArn === body.executionArn);
      if (execution === undefined) return fail(response, 'ExecutionDoesNotExist', 'Execution Does Not Exist');
      sendJson(response, 200, {
        executionArn: execution.executionArn,
        stateMachineArn: execution.stateMachineArn,
        name: execution.name,
        status: execution.status,
        input: JSON.stringify(execution.input),
        ...(execution.output === undefined ? {} : { output: JSON.stringify(execution.output) }),
        startDate: Date.now() / 1000,
      });
      return;
    }
    fail(response, 'UnknownOperationException', `operation ${operation} is not served by this stand-in`);
  });

  return {
    url: server.url,
    server,
    executions,
    async settled() {
      for (let seen = 0; seen < executions.length; seen += 1) await executions[seen]?.done;
    },
    close: () => server.close(),
  };
}
