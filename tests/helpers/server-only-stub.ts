// Stand-in for the `server-only` marker package when lib/ code runs under vitest in plain Node.
export {};
