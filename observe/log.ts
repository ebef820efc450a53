/**
 * A small structured logger: one JSON object per line on stderr.
 *
 * Every line starts with `time` (RFC 3339, UTC), `level` and `msg`, followed by the logger's bound
 * fields and the call's own fields (`binding`, `reason`, ...). Lines below the configured level
 * are dropped before anything is formatted. `child(fields)` returns a logger that adds `fields`
 * to every line and shares the parent's level and sink.
 *
 * Field values are made JSON-safe: an `Error` becomes its one-line message (never a stack),
 * bigints become strings, `undefined` fields are left out. A field may not replace `time`,
 * `level` or `msg`; such a field is written as `field.<name>` instead.
 */

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

export type LogFields = Readonly<Record<string, unknown>>;

/** Where finished lines go (without the trailing newline). */
export type LogSink = (line: string) => void;

export interface LoggerOptions {
  level?: LogLevel;
  sink?: LogSink;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  fields?: LogFields;
}

const rank: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };
const reserved = new Set(["time", "level", "msg"]);
const encoder = new TextEncoder();

/** Writes `line` and a newline to stderr synchronously (lines from one process never interleave). */
export const stderrSink: LogSink = (line) => {
  const bytes = encoder.encode(`${line}\n`);
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
};

export class Logger {
  readonly level: LogLevel;
  readonly #sink: LogSink;
  readonly #now: () => number;
  readonly #fields: LogFields;

  constructor(opts: LoggerOptions = {}) {
    this.level = opts.level ?? "info";
    this.#sink = opts.sink ?? stderrSink;
    this.#now = opts.now ?? Date.now;
    this.#fields = opts.fields ?? {};
  }

  enabled(level: LogLevel): boolean {
    return rank[level] >= rank[this.level];
  }

  /** A logger that adds `fields` to every line (call fields still win over bound ones). */
  child(fields: LogFields): Logger {
    return new Logger({
      level: this.level,
      sink: this.#sink,
      now: this.#now,
      fields: { ...this.#fields, ...fields },
    });
  }

  debug(msg: string, fields?: LogFields): void {
    this.log("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log("error", msg, fields);
  }

  log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    this.#sink(formatLine(new Date(this.#now()).toISOString(), level, msg, {
      ...this.#fields,
      ...fields,
    }));
  }
}

/** One JSON line: time, level, msg first, then the fields in insertion order. */
export function formatLine(time: string, level: LogLevel, msg: string, fields: LogFields): string {
  const record: Record<string, unknown> = { time, level, msg };
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    record[reserved.has(k) ? `field.${k}` : k] = jsonSafe(v);
  }
  try {
    return JSON.stringify(record);
  } catch {
    // e.g. a circular structure: keep the line, lose only the unprintable fields
    const fallback: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record)) fallback[k] = safeOrString(v);
    return JSON.stringify(fallback);
  }
}

function jsonSafe(v: unknown): unknown {
  if (v instanceof Error) return errorText(v);
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "function" || typeof v === "symbol") return String(v);
  return v;
}

function safeOrString(v: unknown): unknown {
  try {
    JSON.stringify(v);
    return v;
  } catch {
    return String(v);
  }
}

/** An error as one line: its message plus the message of its cause, no stack. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error && !err.message.includes(err.cause.message)
      ? `: ${err.cause.message}`
      : "";
    return `${err.message}${cause}`.replace(/\s*\n\s*/g, " ").trim();
  }
  return String(err).replace(/\s*\n\s*/g, " ").trim();
}
