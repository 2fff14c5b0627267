// The values of a query built in pieces: each value is added where its placeholder is
// written, so no placeholder number is ever counted by hand.

export class SqlParams {
  /** What the query is sent with (`db.query(sql, params.values)`). */
  readonly values: unknown[];

  /** `first` are `$1`, `$2`, … in order, for a query that names them itself. */
  constructor(...first: unknown[]) {
    this.values = first;
  }

  /** Appends `value` and returns its placeholder (`$n`). */
  add(value: unknown): string {
    return `$${this.values.push(value)}`;
  }
}
