import type { StandardSchemaWithJSON } from "@modelcontextprotocol/server";
import type { z } from "zod";
import { failure, type Failure } from "../lib/errors";

/**
 * Tool arguments, checked by our zod schema but always handed to the tool. The SDK would answer
 * invalid arguments itself, before the tool runs, and then nothing would be audited; wrapping
 * the schema keeps the advertised JSON Schema exact (tools/list shows the zod schema) while the
 * tool sees `{ ok: false, code, message }` and can audit and refuse the call like any other refusal.
 */
export type Checked<T> = { ok: true; args: T; raw: unknown } | (Failure & { raw: unknown });

export function checkedInput<S extends z.ZodType>(schema: S): StandardSchemaWithJSON<unknown, Checked<z.output<S>>> {
  const standard = schema["~standard"] as unknown as { jsonSchema: unknown };
  return {
    "~standard": {
      version: 1,
      vendor: "sleeping-guardian",
      validate: (value: unknown) => {
        const result = schema.safeParse(value);
        return {
          value: result.success
            ? { ok: true as const, args: result.data as z.output<S>, raw: value }
            : { ...failure("invalid_arguments", `Invalid arguments: ${describeIssues(result.error.issues)}`), raw: value },
        };
      },
      jsonSchema: standard.jsonSchema,
    },
  } as StandardSchemaWithJSON<unknown, Checked<z.output<S>>>;
}

/** "quantity: Too big: expected number to be <=1000; order_id: ..." — short, no input echoed back. */
function describeIssues(issues: z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join(".") : "arguments"}: ${i.message}`)
    .join("; ")
    .slice(0, 400);
}
