/** A Logger that keeps what it is told, for tests that check log lines. */
import type { Logger } from '../../src/diagnostics.js';

/** One line a {@link recordingLogger} was told. */
export interface LoggedLine {
  level: string;
  fields: object;
  message: string | undefined;
}

/** A Logger whose every call lands in `lines`, in order. */
export function recordingLogger(): { logger: Logger; lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const at =
    (level: string) =>
    (fields: object, message?: string): void => {
      lines.push({ level, fields, message });
    };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}
