/**
 * The CLI's output: a {@link Logger} writing one line per message, human
 * (`time role: message`) or one JSON object (`--json`). The library logs
 * through it, so the CLI prints exactly what any application's logger gets.
 *
 * @module
 */
import type { Writable } from 'node:stream';
import type { Logger, LogLevel } from '../index.js';

const plain = (value: unknown): unknown => {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, code: (value as { code?: unknown }).code, message: value.message };
  if (value instanceof Date) return value.toISOString();
  return value;
};

/** A logger to `stream`; `debug` messages only with `verbose`. */
export function createCliLogger(role: string, json: boolean, { verbose = false, stream = process.stdout as Writable } = {}): Logger {
  const write = (level: LogLevel) => (fields: object, message?: string) => {
    if (level === 'debug' && !verbose) return;
    const time = new Date().toISOString();
    if (json) {
      const entry: Record<string, unknown> = { time, role, level };
      for (const [key, value] of Object.entries(fields)) entry[key] = plain(value);
      entry.msg = message ?? '';
      stream.write(`${JSON.stringify(entry)}\n`);
    } else {
      stream.write(`${time} ${role}: ${message ?? ''}\n`);
    }
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
