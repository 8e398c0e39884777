/** A timestamp as the store returns it (a Date from node-postgres, a string elsewhere) → ISO 8601. */
export function toIso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}
