import "server-only";
import type { AppConfig } from "./config";

/**
 * Development defaults are loud and fenced: each announces itself once per process, and the
 * fenced ones (generated signing keys, the embedded mailbox, the rules model) refuse to run under
 * NODE_ENV=production unless ALLOW_DEV_DEFAULTS_IN_PRODUCTION=true.
 */
const announced: Set<string> = ((globalThis as Record<symbol, unknown>)[Symbol.for("sg.devDefaults")] ??=
  new Set<string>()) as Set<string>;

export function announceDevDefault(key: string, message: string): void {
  if (announced.has(key)) return;
  announced.add(key);
  console.warn(`[dev default] ${message}`);
}

export function assertDevDefaultAllowed(config: AppConfig, what: string): void {
  if (config.env === "production" && !config.allowDevDefaultsInProduction) {
    throw new Error(
      `${what} is a development default and refuses to run with NODE_ENV=production. ` +
        "Configure the real service, or set ALLOW_DEV_DEFAULTS_IN_PRODUCTION=true to run the demo anyway.",
    );
  }
}
