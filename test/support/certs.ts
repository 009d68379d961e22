/** Throw-away certificates for TLS tests, made with `openssl` (EC P-256, valid one day). */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Paths of PEM files in `dir`. */
export interface TestCerts {
  readonly ca: string;
  /** etcd's certificate (SAN IP:127.0.0.1) and key, signed by `ca`. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** A client certificate and key signed by `ca`. */
  readonly clientCert: string;
  readonly clientKey: string;
  /** Another CA, which signed none of these. */
  readonly otherCa: string;
}

const openssl = (args: string[], cwd: string): void => {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
};

/**
 * `openssl req` making a new P-256 key `<name>.key` with, as `kind` says, a
 * signing request `<name>.csr` or a self-signed CA certificate `<name>.pem`.
 */
function newKey(dir: string, name: string, cn: string, kind: 'csr' | 'ca'): void {
  const output = kind === 'csr' ? ['-new', '-out', `${name}.csr`] : ['-x509', '-days', '1', '-out', `${name}.pem`];
  openssl(
    [
      'req',
      ...output,
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-subj',
      `/CN=${cn}`,
    ],
    dir,
  );
}

function sign(dir: string, name: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  );
}

/** Makes a CA, a server certificate for 127.0.0.1, a client certificate, and an unrelated CA, in `dir`. */
export function makeCerts(dir: string): TestCerts {
  newKey(dir, 'ca', 'ca', 'ca');
  newKey(dir, 'other-ca', 'other-ca', 'ca');
  newKey(dir, 'server', '127.0.0.1', 'csr');
  sign(dir, 'server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  newKey(dir, 'client', 'rina-enroller', 'csr');
  sign(dir, 'client', 'extendedKeyUsage=clientAuth\n');
  const at = (f: string) => join(dir, f);
  return {
    ca: at('ca.pem'),
    serverCert: at('server.pem'),
    serverKey: at('server.key'),
    clientCert: at('client.pem'),
    clientKey: at('client.key'),
    otherCa: at('other-ca.pem'),
  };
}
