import { z } from "zod";
import { ORDER_ID_PATTERN } from "@/lib/orders/order";

/**
 * The query of GET /api/sequence: at most one `order`, shaped like an order id, and nothing else.
 * A query string longer than MAX_QUERY_CHARS is refused before it is parsed.
 */
export const MAX_QUERY_CHARS = 128;

export const SequenceQuery = z.strictObject({
  order: z.string().regex(ORDER_ID_PATTERN, "order must be an order id: ord_ followed by 16-40 letters or digits").optional(),
});
export type SequenceQuery = z.infer<typeof SequenceQuery>;

/** The query's parameters, or the reason it is not acceptable. */
export function parseSequenceQuery(url: URL): { ok: true; value: SequenceQuery } | { ok: false; message: string } {
  if (url.search.length > MAX_QUERY_CHARS) return { ok: false, message: `The query is longer than ${MAX_QUERY_CHARS} characters.` };
  const params: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    if (name in params) return { ok: false, message: `The parameter ${name.slice(0, 20)} is repeated.` };
    params[name] = value;
  }
  const parsed = SequenceQuery.safeParse(params);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, message: issue.code === "unrecognized_keys" ? "Only the order parameter is accepted." : issue.message };
  }
  return { ok: true, value: parsed.data };
}
