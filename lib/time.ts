/** A timestamp as the store returns it (a Date from node-postgres, a string elsewhere) → Date. */
export function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

/** A timestamp as the store returns it → ISO 8601. */
export function toIso(value: Date | string): string {
  return toDate(value).toISOString();
}
