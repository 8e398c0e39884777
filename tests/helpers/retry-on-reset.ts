/**
 * A server that answers before it has read a request's body (a 413 on the declared length, a 405)
 * closes the connection under an upload still going (RFC 9112 §9.6), and a client busy writing
 * may see the reset (EPIPE, ECONNRESET) before it reads the answer: a bare node:http server that
 * answers 413 at once does the same now and then. `send` is tried again when that happens before
 * any answer, twice at most; any other error, or a third reset, is thrown.
 */
export async function retryOnReset<T>(send: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt >= 3 || (code !== "EPIPE" && code !== "ECONNRESET")) throw error;
    }
  }
}
