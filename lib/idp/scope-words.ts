import { SCOPE_READ, SCOPE_TRADE } from "../protocol";

/** Human words for the scopes a request asks for, on the approval page and in the email. */
export function describeScopes(scope: string): string[] {
  const words: Record<string, string> = {
    [SCOPE_READ]: "Read market prices and your portfolio",
    [SCOPE_TRADE]: "Place this one trade for you",
  };
  return scope
    .split(" ")
    .filter((s) => s in words)
    .map((s) => words[s]!);
}
