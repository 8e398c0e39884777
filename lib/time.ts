/** A timestamp as the store returns it (a Date from node-postgres, a string elsewhere) → Date. */
export function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

/** A timestamp as the store returns it → ISO 8601. */
export function toIso(value: Date | string): string {
  return toDate(value).toISOString();
}

/** "14:03:22 UTC, 5 May 2026": unambiguous for a reader anywhere. */
export function formatInstant(date: Date): string {
  const time = date.toISOString().slice(11, 19);
  const day = date.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  return `${time} UTC, ${day}`;
}

/** "2 minutes", "45 seconds": the time a request has left, for an email. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s} second${s === 1 ? "" : "s"}`;
  const m = Math.round(s / 60);
  return `${m} minute${m === 1 ? "" : "s"}`;
}
