/** The shape of `fetch` that outbound HTTP helpers accept, so tests and wrappers can stand in. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
