/**
 * Reading a request body of at most `maxBytes` bytes without ever holding more: a declared
 * `Content-Length` above the limit is refused before a byte is read, and a body that streams past
 * the limit (chunked, no length) is no longer read past the chunk that crosses it. `undefined` means too
 * large; the caller answers 413. Shared by the app's routes (lib/http.ts) and anything else that
 * takes a body (the embedded server's approval forms and its /oidc proxy).
 */

export function declaredTooLarge(request: Request, maxBytes: number): boolean {
  return Number(request.headers.get("content-length")) > maxBytes;
}

export async function readLimitedBody(request: Request, maxBytes: number): Promise<Uint8Array | undefined> {
  if (declaredTooLarge(request, maxBytes)) return undefined;
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    if (received > maxBytes) {
      // Stop reading and leave the connection open: the 413 goes out on it, the client's upload
      // stalls on TCP flow control, and the server closes the idle connection after its keep-alive
      // timeout. Cancelling the stream instead destroys the socket, which can reset the connection
      // before the 413 is sent; a client still writing then sees EPIPE and never reads the answer.
      reader.releaseLock();
      return undefined;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/**
 * An application/x-www-form-urlencoded body of at most `maxBytes` (the identity server's forms):
 * "too_large" past the limit, undefined when it is not such a form or not UTF-8.
 */
export async function readUrlEncodedForm(request: Request, maxBytes: number): Promise<URLSearchParams | "too_large" | undefined> {
  if (declaredTooLarge(request, maxBytes)) return "too_large";
  if (!(request.headers.get("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) return undefined;
  const bytes = await readLimitedBody(request, maxBytes);
  if (!bytes) return "too_large";
  try {
    return new URLSearchParams(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
}
