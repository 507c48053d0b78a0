import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { type LoopbackServer, sendJson, startLoopbackServer } from './loopback-server.ts';

/** One SendMessage the stand-in accepted. */
export interface SentMessage {
  queueName: string;
  messageId: string;
  body: string;
  /** As the request gave it; undefined when it gave none (the queue's own delay, 0 here, applies). */
  delaySeconds: number | undefined;
  /** Epoch milliseconds. */
  sentAt: number;
}

/** The next calls fail: `status` with the JSON error `type` and, as SQS adds it, the query error code. */
export interface SqsFailure {
  status: number;
  type: string;
  queryError?: string;
  message?: string;
  times?: number;
}

export interface SqsStandInOptions {
  /** Queue names that exist (default: `tracking`). */
  queues?: string[];
  /** Called with each accepted message (the sandbox delivers it to the tracker after its delay). */
  onSent?: (message: SentMessage) => void;
  region?: string;
  accountId?: string;
}

export interface SqsStandIn {
  server: LoopbackServer;
  url: string;
  /** `http://127.0.0.1:<port>/<account>/<name>`, the form SQS queue URLs have. */
  queueUrl(name?: string): string;
  queueArn(name?: string): string;
  /** Every accepted message (since the last reset), in order. */
  sent: SentMessage[];
  /** SendMessage requests received (since the last reset), however they were answered. */
  sendRequests(): number;
  fail(failure: SqsFailure): void;
  /**
   * The messages sent since the last call, as the event Lambda's event source mapping would deliver
   * (the delay is the test's to play: nothing waits for it here).
   */
  receive(): SQSEvent;
  reset(): void;
  /** A real SDK client aimed at the stand-in. */
  client(): SQSClient;
  close(): Promise<void>;
}

const jsonType = 'application/x-amz-json-1.0';
// SQS's per-message delay range and the classic maximum message size.
const MAX_DELAY_SECONDS = 900;
const MAX_BODY_BYTES = 256 * 1024;

/**
 * SQS's SendMessage over AWS JSON 1.0, the protocol @aws-sdk/client-sqs 3.x uses (POST /,
 * `X-Amz-Target: AmazonSQS.SendMessage`, `Content-Type: application/x-amz-json-1.0`). It answers
 * `MD5OfMessageBody`, which the SDK checks against what it sent, and errors as SQS sends them in JSON
 * mode: `__type` plus the `x-amzn-query-error` header the SDK reads for query-compatible codes.
 */
export async function startSqsStandIn(options: SqsStandInOptions = {}): Promise<SqsStandIn> {
  const region = options.region ?? 'eu-west-1';
  const accountId = options.accountId ?? '123456789012';
  const queues = new Set(options.queues ?? ['tracking']);
  const sent: SentMessage[] = [];
  let received = 0;
  let failures: SqsFailure[] = [];

  function fail(
    response: Parameters<typeof sendJson>[0],
    status: number,
    type: string,
    message: string,
    queryError?: string,
  ) {
    sendJson(
      response,
      status,
      { __type: type, message },
      {
        'content-type': jsonType,
        'x-amzn-requestid': randomUUID(),
        ...(queryError === undefined ? {} : { 'x-amzn-query-error': queryError }),
      },
    );
  }

  const server = await startLoopbackServer((request, response) => {
    const target = String(request.headers['x-amz-target'] ?? '');
    if (request.method !== 'POST' || target !== 'AmazonSQS.SendMessage') {
      fail(
        response,
        400,
        'com.amazonaws.sqs#UnsupportedOperation',
        `unsupported ${request.method} ${target}`,
      );
      return;
    }
    if (request.headers['content-type'] !== jsonType) {
      fail(
        response,
        400,
        'com.amazon.coral.service#SerializationException',
        `content-type must be ${jsonType}`,
      );
      return;
    }
    const scripted = failures[0];
    if (scripted) {
      scripted.times = (scripted.times ?? 1) - 1;
      if (scripted.times <= 0) failures = failures.slice(1);
      fail(
        response,
        scripted.status,
        scripted.type,
        scripted.message ?? 'stand-in failure',
        scripted.queryError,
      );
      return;
    }
    const input = JSON.parse(request.body) as {
      QueueUrl?: string;
      MessageBody?: string;
      DelaySeconds?: unknown;
    };
    const queueName = queueNameOf(input.QueueUrl);
    if (queueName === undefined || !queues.has(queueName)) {
      fail(
        response,
        400,
        'com.amazonaws.sqs#QueueDoesNotExist',
        'The specified queue does not exist.',
        'AWS.SimpleQueueService.NonExistentQueue;Sender',
      );
      return;
    }
    const body = input.MessageBody;
    const delay = input.DelaySeconds;
    const problem =
      typeof body !== 'string' || body.length === 0
        ? 'The request must contain the parameter MessageBody.'
        : Buffer.byteLength(body) > MAX_BODY_BYTES
          ? `One or more parameters are invalid. Reason: Message must be shorter than ${MAX_BODY_BYTES} bytes.`
          : delay !== undefined &&
              (typeof delay !== 'number' ||
                !Number.isInteger(delay) ||
                delay < 0 ||
                delay > MAX_DELAY_SECONDS)
            ? `Value ${String(delay)} for parameter DelaySeconds is invalid. Reason: must be between 0 and ${MAX_DELAY_SECONDS}, if provided.`
            : undefined;
    if (problem !== undefined) {
      fail(response, 400, 'com.amazonaws.sqs#InvalidParameterValue', problem, 'InvalidParameterValue;Sender');
      return;
    }
    const message: SentMessage = {
      queueName,
      messageId: randomUUID(),
      body: body as string,
      delaySeconds: delay as number | undefined,
      sentAt: Date.now(),
    };
    sent.push(message);
    options.onSent?.(message);
    sendJson(
      response,
      200,
      { MessageId: message.messageId, MD5OfMessageBody: md5(message.body) },
      { 'content-type': jsonType, 'x-amzn-requestid': randomUUID() },
    );
  });

  function queueNameOf(queueUrl: string | undefined): string | undefined {
    if (queueUrl === undefined || !URL.canParse(queueUrl)) return undefined;
    const url = new URL(queueUrl);
    const [account, name, ...rest] = url.pathname.split('/').filter(Boolean);
    return url.origin === server.url && account === accountId && rest.length === 0 ? name : undefined;
  }

  const queueArn = (name = 'tracking') => `arn:aws:sqs:${region}:${accountId}:${name}`;

  return {
    server,
    url: server.url,
    queueUrl: (name = 'tracking') => `${server.url}/${accountId}/${name}`,
    queueArn,
    sent,
    sendRequests: () =>
      server.requests.filter((request) => request.headers['x-amz-target'] === 'AmazonSQS.SendMessage').length,
    fail(failure) {
      failures.push({ ...failure });
    },
    receive() {
      const messages = sent.slice(received);
      received = sent.length;
      return sqsEvent(messages, { region, queueArn });
    },
    reset() {
      server.requests.length = 0;
      sent.length = 0;
      received = 0;
      failures = [];
    },
    client: () =>
      new SQSClient({
        endpoint: server.url,
        region,
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-access-key' },
        maxAttempts: 1,
      }),
    close: () => server.close(),
  };
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** The event Lambda's SQS event source mapping delivers for these messages, field for field. */
export function sqsEvent(
  messages: Array<Pick<SentMessage, 'queueName' | 'messageId' | 'body' | 'sentAt'>>,
  options: { region?: string; queueArn?: (name: string) => string; receiveCount?: number } = {},
): SQSEvent {
  const region = options.region ?? 'eu-west-1';
  const arnOf = options.queueArn ?? ((name: string) => `arn:aws:sqs:${region}:123456789012:${name}`);
  return {
    Records: messages.map(
      (message): SQSRecord => ({
        messageId: message.messageId,
        receiptHandle: randomBytes(48).toString('base64'),
        body: message.body,
        attributes: {
          ApproximateReceiveCount: String(options.receiveCount ?? 1),
          SentTimestamp: String(message.sentAt),
          SenderId: 'AROAEXAMPLE:taurusdb-proxy-upgrader-track',
          ApproximateFirstReceiveTimestamp: String(Date.now()),
        },
        messageAttributes: {},
        md5OfBody: md5(message.body),
        eventSource: 'aws:sqs',
        eventSourceARN: arnOf(message.queueName),
        awsRegion: region,
      }),
    ),
  };
}
