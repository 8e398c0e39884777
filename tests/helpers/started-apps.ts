/** Every app the test file started, by URL, with what it logged so far: a failing test prints them (app-logs.ts). */
export const startedApps = new Map<string, () => string>();
