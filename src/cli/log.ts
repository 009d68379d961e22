/**
 * The CLI's output: one line per event, human-readable or one JSON object.
 *
 * @module
 */
import type { Writable } from 'node:stream';

/** Writes one log line per call. */
export type Log = (event: string, fields: Record<string, unknown>, text: string) => void;

const plain = (value: unknown): unknown => {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, code: (value as { code?: unknown }).code, message: value.message };
  if (value instanceof Date) return value.toISOString();
  return value;
};

/** A log to `stream`: `--json` gives one JSON object per line, otherwise `time role: text`. */
export function createLog(role: string, json: boolean, stream: Writable = process.stdout): Log {
  return (event, fields, text) => {
    const time = new Date().toISOString();
    if (json) {
      const entry: Record<string, unknown> = { time, role, event };
      for (const [key, value] of Object.entries(fields)) entry[key] = plain(value);
      stream.write(`${JSON.stringify(entry)}\n`);
    } else {
      stream.write(`${time} ${role}: ${text}\n`);
    }
  };
}
