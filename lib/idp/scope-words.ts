import { SCOPE_READ, SCOPE_TRADE } from "../protocol";

/** Human words for the scopes a request asks for, on the approval page and in the email; `standing` for a standing mandate. */
export function describeScopes(scope: string, standing = false): string[] {
  const words: Record<string, string> = {
    [SCOPE_READ]: "Read market prices and your portfolio",
    [SCOPE_TRADE]: standing ? "Buy within these limits without asking you, until you revoke it or it expires" : "Place this one trade for you",
    offline_access: "Keep this permission while you are away (until the date above)",
  };
  return scope
    .split(" ")
    .filter((s) => s in words)
    .map((s) => words[s]!);
}
