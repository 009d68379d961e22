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

function newKeyAndCsr(dir: string, name: string, cn: string): void {
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ],
    dir,
  );
}

function newCa(dir: string, name: string): void {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
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
  newCa(dir, 'ca');
  newCa(dir, 'other-ca');
  newKeyAndCsr(dir, 'server', '127.0.0.1');
  sign(dir, 'server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  newKeyAndCsr(dir, 'client', 'rina-enroller');
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
