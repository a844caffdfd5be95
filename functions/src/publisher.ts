// The publishing side, behind a small interface so the HTTP handler can be
// tested with a fake and run in production with the real Pub/Sub client.
import { promisify } from 'node:util';
import { PubSub, type Topic } from '@google-cloud/pubsub';
import type { OutgoingMessage } from './message';

export interface EventPublisher {
  /**
   * Publish one message to the named topic. Resolves with the server-assigned
   * message id only once Pub/Sub has acknowledged (persisted) the message;
   * rejects otherwise.
   */
  publish(topic: string, message: OutgoingMessage): Promise<string>;
  /**
   * Publish several messages in one Publish request, in the order given (the order
   * Pub/Sub stores them in per ordering key). All or nothing: resolves with the ids
   * in the same order once Pub/Sub has acknowledged them all; rejects otherwise.
   */
  publishAll(topic: string, messages: OutgoingMessage[]): Promise<string[]>;
}

/** Pub/Sub's limits on one Publish request (1,000 messages, 10 MB), with room to spare. */
export const PUBLISH_MAX_MESSAGES = 1000;
export const PUBLISH_MAX_BYTES = 9_000_000;

interface Waiting {
  messages: OutgoingMessage[];
  resolve: (ids: string[]) => void;
  reject: (err: unknown) => void;
}

interface PublishQueue {
  waiting: Waiting[];
  busy: boolean;
}

export interface PubSubPublisherOptions {
  /** Project id; defaults to the client's own detection (GOOGLE_CLOUD_PROJECT, metadata server...). */
  projectId?: string;
  /** Upper bound on one publish, retries included, in milliseconds. */
  publishTimeoutMs: number;
}

/** EventPublisher backed by @google-cloud/pubsub, with message ordering enabled. */
export class PubSubPublisher implements EventPublisher {
  private readonly client: PubSub;
  private readonly topics = new Map<string, Topic>();
  private readonly queues = new Map<string, PublishQueue>();
  private readonly timeoutMs: number;

  constructor(options: PubSubPublisherOptions) {
    // The client honours PUBSUB_EMULATOR_HOST by itself, which is how the
    // tests and local runs point it at the emulator.
    this.client = new PubSub(options.projectId ? { projectId: options.projectId } : {});
    this.timeoutMs = options.publishTimeoutMs;
  }

  private topic(name: string): Topic {
    let topic = this.topics.get(name);
    if (topic === undefined) {
      topic = this.client.topic(name, {
        // Required for ordering keys: messages with the same key are delivered
        // in the order they were published.
        messageOrdering: true,
        // A function instance handles requests one at a time in practice; a
        // short batching delay keeps latency low without losing batching
        // when several requests do arrive together.
        batching: { maxMessages: 100, maxMilliseconds: 5 },
        // Bound the publish call (gax retries included) well below the
        // function timeout, so the sender gets a 503 and retries instead of
        // the platform killing the request.
        gaxOpts: { timeout: this.timeoutMs },
      });
      this.topics.set(name, topic);
    }
    return topic;
  }

  async publish(topicName: string, message: OutgoingMessage): Promise<string> {
    const topic = this.topic(topicName);
    const publishing = topic.publishMessage({
      data: message.data,
      attributes: message.attributes,
      orderingKey: message.orderingKey,
    });
    // gax's own total timeout is not a hard bound when the server cannot be
    // reached at all (connection back-off comes on top of it, measured at 2-5x
    // the setting), so race it against our own deadline. If the publish still
    // lands after we gave up, the sender's retry produces a duplicate with the
    // same event_id, which consumers deduplicate: at-least-once, never lost.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`publish not acknowledged within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([publishing, deadline]);
    } catch (err) {
      // After a failed publish the client pauses that ordering key (so later
      // messages cannot overtake the failed one). The sender retries the
      // failed event, so it is safe, and necessary, to resume the key now.
      topic.resumePublishing(message.orderingKey);
      throw err;
    } finally {
      clearTimeout(timer);
      // A publish that loses the race must not become an unhandled rejection.
      publishing.catch(() => undefined);
    }
  }

  /**
   * Requests arriving while a Publish RPC is in flight wait and then go together in
   * the next one (at most PUBLISH_MAX_MESSAGES / PUBLISH_MAX_BYTES), in arrival order.
   * Concurrent requests carry different rows (the relay sends a row's events one
   * request after the other), so merging them changes no row's order; a failed RPC
   * fails every request in it (503, retried by the sender). One RPC at a time per
   * topic: measured against the emulator, 8 concurrent Publish calls of 100
   * messages moved 1,500 msgs/s, one at a time 5,200, merged into 500s 10,500.
   */
  publishAll(topicName: string, messages: OutgoingMessage[]): Promise<string[]> {
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(topicName);
      if (queue === undefined) {
        queue = { waiting: [], busy: false };
        this.queues.set(topicName, queue);
      }
      queue.waiting.push({ messages, resolve, reject });
      if (!queue.busy) void this.drain(topicName, queue);
    });
  }

  private async drain(topicName: string, queue: PublishQueue): Promise<void> {
    queue.busy = true;
    try {
      while (queue.waiting.length > 0) {
        const group: Waiting[] = [];
        let count = 0;
        let bytes = 0;
        while (queue.waiting.length > 0) {
          const next = queue.waiting[0]!;
          const size = next.messages.reduce((n, m) => n + m.data.length + 2048, 0);
          if (group.length > 0 && (count + next.messages.length > PUBLISH_MAX_MESSAGES || bytes + size > PUBLISH_MAX_BYTES)) break;
          group.push(queue.waiting.shift()!);
          count += next.messages.length;
          bytes += size;
        }
        try {
          const ids = await this.publishRpc(topicName, group.flatMap((g) => g.messages));
          let at = 0;
          for (const g of group) {
            g.resolve(ids.slice(at, at + g.messages.length));
            at += g.messages.length;
          }
        } catch (err) {
          for (const g of group) g.reject(err);
        }
      }
    } finally {
      queue.busy = false;
    }
  }

  private async publishRpc(topicName: string, messages: OutgoingMessage[]): Promise<string[]> {
    // One Publish RPC. The client's own batching keeps one queue per ordering key,
    // so N rows would cost N round trips; a direct Publish call carries them all,
    // and Pub/Sub keeps the order of a key's messages within it. Nothing is queued
    // in the client, so a failure pauses no key.
    const topic = this.topic(topicName);
    const request = promisify(topic.request.bind(topic)) as (config: object) => Promise<{ messageIds?: string[] }>;
    const publishing = request({
      client: 'PublisherClient',
      method: 'publish',
      reqOpts: {
        topic: topic.name,
        messages: messages.map((m) => ({ data: m.data, attributes: m.attributes, orderingKey: m.orderingKey })),
      },
      // gax would otherwise bundle concurrent Publish calls into one RPC and hand
      // each caller a wrong share of the ids (seen: 100 ids for a 25-message call).
      gaxOpts: { timeout: this.timeoutMs, isBundling: false },
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`publish not acknowledged within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    try {
      const response = await Promise.race([publishing, deadline]);
      const ids = response?.messageIds ?? [];
      if (ids.length !== messages.length) {
        throw new Error(`Pub/Sub acknowledged ${ids.length} of ${messages.length} messages`);
      }
      return ids;
    } finally {
      clearTimeout(timer);
      publishing.catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.topics.values()].map((t) => t.flush()));
    await this.client.close();
  }
}
