import "server-only";
import type { Client } from "pg";
import type { ActivityEntry } from "../types";
import type { AppEventName, AppEvents, EventBus } from "./bus";

/**
 * Events across instances through PostgreSQL's LISTEN/NOTIFY on the one shared database: every
 * event an instance publishes is sent as a NOTIFY on one channel, and every instance LISTENs on
 * it and delivers the other instances' events to its own bus (an instance's own notifications
 * come back to it too and are skipped by their origin, so nothing is delivered twice).
 *
 * A NOTIFY payload must stay under 8000 bytes: an event is sent whole when it is small (ticks,
 * reasons, ids — nearly everything), and an activity entry too large for that as its id, which
 * the receiver reads back from activity_log. NOTIFYs go out in order on one connection, and
 * received events are delivered in order, so a follower sees the leader's ticks in sequence.
 *
 * Events published while the relay's connection is down are not replayed (the dashboard
 * refetches its state when its own stream reconnects); the connection is reopened every second.
 */
export const EVENTS_CHANNEL = "sleeping_guardian_events";
const MAX_PAYLOAD = 7900;

interface Envelope {
  /** The instance that published the event. */
  o: string;
  n: AppEventName;
  /** The payload, or for an oversized activity entry: {ref: id}. */
  p: unknown;
  ref?: number;
}

export interface EventRelay {
  stop(): Promise<void>;
}

export interface RelayOptions {
  url: string;
  instanceId: string;
  bus: EventBus;
  /** Reads an activity entry that was too large to send. */
  readActivity(id: number): Promise<ActivityEntry | undefined>;
}

export async function startEventRelay({ url, instanceId, bus, readActivity }: RelayOptions): Promise<EventRelay> {
  const { Client } = await import("pg");
  let client: Client | undefined;
  let stopped = false;
  let reconnect: NodeJS.Timeout | undefined;
  let delivering: Promise<void> = Promise.resolve();
  let sending: Promise<unknown> = Promise.resolve();

  const deliver = async (envelope: Envelope) => {
    if (envelope.ref !== undefined) {
      const entry = await readActivity(envelope.ref);
      if (entry) bus.receive("activity", entry);
      return;
    }
    bus.receive(envelope.n, envelope.p as AppEvents[typeof envelope.n]);
  };

  const open = async () => {
    const c = new Client({ connectionString: url, application_name: `sleeping-guardian-events:${instanceId}`.slice(0, 63), keepAlive: true });
    const drop = (why: string) => {
      if (client !== c) return;
      client = undefined;
      c.end().catch(() => undefined);
      if (!stopped) {
        console.warn(`[events] relay connection lost (${why}); reconnecting`);
        scheduleReconnect();
      }
    };
    c.on("error", (e) => drop(e.message));
    c.on("end", () => drop("closed"));
    c.on("notification", (message) => {
      if (message.channel !== EVENTS_CHANNEL || !message.payload) return;
      let envelope: Envelope;
      try {
        envelope = JSON.parse(message.payload) as Envelope;
      } catch {
        return;
      }
      if (envelope.o === instanceId) return;
      delivering = delivering.then(() => deliver(envelope)).catch((e: unknown) => console.error("[events] delivery failed:", e instanceof Error ? e.message : e));
    });
    await c.connect();
    await c.query(`LISTEN ${EVENTS_CHANNEL}`);
    client = c;
  };

  const scheduleReconnect = () => {
    clearTimeout(reconnect);
    reconnect = setTimeout(() => {
      open().catch((e: unknown) => {
        console.warn("[events] relay could not connect:", e instanceof Error ? e.message : e);
        if (!stopped) scheduleReconnect();
      });
    }, 1000);
    reconnect.unref?.();
  };

  await open();

  bus.relayTo((name, payload) => {
    const c = client;
    if (!c) return;
    let text = JSON.stringify({ o: instanceId, n: name, p: payload } satisfies Envelope);
    if (Buffer.byteLength(text) > MAX_PAYLOAD) {
      if (name !== "activity") {
        console.error(`[events] ${name} event too large to relay (${Buffer.byteLength(text)} bytes)`);
        return;
      }
      text = JSON.stringify({ o: instanceId, n: name, p: null, ref: (payload as ActivityEntry).id } satisfies Envelope);
    }
    // One connection, one NOTIFY at a time: the other instances receive them in this order.
    sending = sending
      .then(() => c.query("SELECT pg_notify($1, $2)", [EVENTS_CHANNEL, text]))
      .catch((e: unknown) => console.error("[events] notify failed:", e instanceof Error ? e.message : e));
  });

  return {
    async stop() {
      stopped = true;
      clearTimeout(reconnect);
      bus.relayTo(undefined);
      const c = client;
      client = undefined;
      await sending;
      await delivering.catch(() => undefined);
      await c?.end().catch(() => undefined);
    },
  };
}
