/**
 * The authentication flags of both commands: `--auth`, `--auth-key-file` (or
 * {@link AUTH_KEY_ENV}) and the enroller's `--allowed-names`.
 *
 * @module
 */
import { type Command, Option } from 'commander';
import type { AuthOptions } from '../../index.js';
import { readFlagFile, UsageError } from './usage-error.js';

/** The environment variable that may hold the key (hmac-sha256) or the password (passwd) instead of a file. */
export const AUTH_KEY_ENV = 'RINA_ENROLL_AUTH_KEY';

/** An authentication mechanism `--auth` names. */
export type Mechanism = AuthOptions['mechanism'];

/** The flags {@link authFrom} reads. */
export interface AuthFlags {
  auth: Mechanism;
  authKeyFile?: string;
}

/** Adds `--auth` and `--auth-key-file` to `command`. */
export function addAuthOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--auth <mechanism>', 'authentication: none, passwd (in clear: trusted networks only) or hmac-sha256')
        .choices(['none', 'passwd', 'hmac-sha256'])
        .default('none'),
    )
    .option('--auth-key-file <path>', `file holding the key (hmac-sha256) or password (passwd); or set ${AUTH_KEY_ENV}`);
}

/** `--auth none`: refuses a key file or a key in the environment, which it would ignore. */
function noAuth(opts: AuthFlags): AuthOptions {
  if (opts.authKeyFile !== undefined) throw new UsageError('--auth-key-file needs --auth passwd or --auth hmac-sha256');
  if (process.env[AUTH_KEY_ENV] !== undefined && process.env[AUTH_KEY_ENV] !== '') {
    throw new UsageError(
      `${AUTH_KEY_ENV} is set but --auth is none, which would ignore it and admit anyone: give --auth hmac-sha256 (or passwd), or unset ${AUTH_KEY_ENV}`,
    );
  }
  return { mechanism: 'none' };
}

/** The secret, from `--auth-key-file` or {@link AUTH_KEY_ENV}. */
async function secretFrom(opts: AuthFlags, what: string): Promise<string> {
  if (opts.authKeyFile !== undefined) return (await readFlagFile('--auth-key-file', opts.authKeyFile)).trimEnd();
  const fromEnv = process.env[AUTH_KEY_ENV];
  if (fromEnv === undefined || fromEnv === '') {
    throw new UsageError(
      `--auth ${opts.auth} needs the ${what}: --auth-key-file PATH, or the ${AUTH_KEY_ENV} environment variable (never on the command line, where ps shows it)`,
    );
  }
  return fromEnv;
}

/**
 * The authentication of `--auth`, with its secret from `--auth-key-file` or
 * {@link AUTH_KEY_ENV}: never from the command line, where `ps` shows it.
 */
export async function authFrom(opts: AuthFlags): Promise<AuthOptions> {
  if (opts.auth === 'none') return noAuth(opts);
  const what = opts.auth === 'passwd' ? 'password' : 'key';
  const secret = await secretFrom(opts, what);
  const source = opts.authKeyFile === undefined ? AUTH_KEY_ENV : `--auth-key-file "${opts.authKeyFile}"`;
  if (/^[A-Z][A-Z0-9_]*=/.test(secret)) {
    throw new UsageError(
      `${source} looks like an environment file ("${secret.split('=')[0]}=..."): give a file holding only the ${what}, or load that file into the environment (systemd: EnvironmentFile=)`,
    );
  }
  if (opts.auth === 'passwd') {
    if (secret === '') throw new UsageError(`${source}: the password is empty`);
    return { mechanism: 'passwd', password: secret };
  }
  const bytes = Buffer.byteLength(secret);
  if (bytes < 16) {
    throw new UsageError(
      `${source}: an hmac-sha256 key must be at least 16 bytes, this one has ${bytes} (make one with: openssl rand -base64 32)`,
    );
  }
  return { mechanism: 'hmac-sha256', key: secret };
}

/** The IPCP names of an `--allowed-names` file: one per line; blank lines and `#` comments ignored. */
export async function allowedNamesFrom(path: string): Promise<string[]> {
  const names = (await readFlagFile('--allowed-names', path))
    .split(/\r?\n/)
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line !== '');
  if (names.length === 0) throw new UsageError(`--allowed-names: "${path}" lists no IPCP name (one per line)`);
  return names;
}
