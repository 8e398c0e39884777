import "server-only";

/**
 * One kill-switch operation at a time in this process. Route handlers and instrumentation.ts get
 * different module instances in Next.js, so the queue lives on globalThis, like the runtime.
 */
const KEY = Symbol.for("sleeping-guardian.kill-switch.queue");
type Registry = { [KEY]?: Promise<unknown> };

export function serialized<T>(work: () => Promise<T>): Promise<T> {
  const registry = globalThis as Registry;
  const previous = registry[KEY] ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(work);
  registry[KEY] = next.catch(() => undefined);
  return next;
}
