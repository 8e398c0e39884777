import { ConfigError, parseConfig } from "@/lib/config";

/** The error `promise` rejects with; throws when it resolves instead. */
export async function rejection<T>(promise: Promise<T>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

/** The problems parseConfig names for `env`, one a line; throws when `env` is a valid configuration. */
export function configProblems(env: Record<string, string>): string {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.join("\n");
    throw error;
  }
  throw new Error("expected a ConfigError");
}
