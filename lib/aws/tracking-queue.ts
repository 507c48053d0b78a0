import { SendMessageCommand, type SendMessageCommandOutput, SQSClient } from '@aws-sdk/client-sqs';
import { PublishError } from '../errors.ts';
import { followedName, serializeTracked, type TrackedUpgrade } from '../tracking/message.ts';
import { type AwsCallSettings, awsClientOptions } from './call-budget.ts';

/**
 * The tracking queue: a re-check is an SQS message whose per-message `DelaySeconds` keeps it invisible
 * until the check is due, and the queue's event source mapping then invokes the tracker with it. So
 * the waiting happens in SQS, not in a Lambda that is billed while it sleeps.
 */

/** The slice of the SQS client this module uses; tests pass the real client aimed at a stand-in. */
export interface SqsLike {
  send(
    command: SendMessageCommand,
    options?: { abortSignal?: AbortSignal },
  ): Promise<Pick<SendMessageCommandOutput, 'MessageId'>>;
}

export interface TrackingQueueOptions {
  queueUrl: string;
  client?: SqsLike;
  /** Timeouts and attempts of the default client. */
  awsCalls?: AwsCallSettings;
}

export interface TrackingQueue {
  /** Sends the next check, due in `delaySeconds` (0..900). Resolves with the SQS message id. */
  schedule(tracked: TrackedUpgrade, delaySeconds: number, signal?: AbortSignal): Promise<string>;
}

// SQS's per-message delay range.
export const MAX_DELAY_SECONDS = 900;

export function createTrackingQueue(options: TrackingQueueOptions): TrackingQueue {
  /**
   * Created on first use, with the SDK's standard settings (AWS_REGION, AWS_ENDPOINT_URL_SQS,
   * credentials chain) and the request timeout and bounded retries of every AWS call here
   * (lib/aws/call-budget.ts): a SendMessage that is repeated after a lost answer may enqueue the
   * re-check twice, which costs one extra read-only check.
   */
  let client = options.client;
  const clientOf = () => {
    client ??= new SQSClient(awsClientOptions(options.awsCalls));
    return client;
  };
  return {
    async schedule(tracked, delaySeconds, signal) {
      const delay = Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil(delaySeconds)));
      try {
        const output = await clientOf().send(
          new SendMessageCommand({
            QueueUrl: options.queueUrl,
            MessageBody: serializeTracked(tracked),
            DelaySeconds: delay,
          }),
          ...(signal === undefined ? [] : [{ abortSignal: signal }]),
        );
        return output.MessageId ?? '';
      } catch (error) {
        // Names what is followed (a workflow or a proxy's version) and the SQS error, never the body.
        const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        throw new PublishError(
          `the re-check of ${followedName(tracked)} could not be queued on ${options.queueUrl} (${reason})`,
          { cause: error },
        );
      }
    },
  };
}
