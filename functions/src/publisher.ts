// The publishing side, behind a small interface so the HTTP handler can be
// tested with a fake and run in production with the real Pub/Sub client.
import { PubSub, type Topic } from '@google-cloud/pubsub';
import type { OutgoingMessage } from './message';

export interface EventPublisher {
  /**
   * Publish one message to the named topic. Resolves with the server-assigned
   * message id only once Pub/Sub has acknowledged (persisted) the message;
   * rejects otherwise.
   */
  publish(topic: string, message: OutgoingMessage): Promise<string>;
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

  async close(): Promise<void> {
    await Promise.all([...this.topics.values()].map((t) => t.flush()));
    await this.client.close();
  }
}
