// A self-signed certificate for the emulator's HTTPS, made at start: an EC P-256 key and
// a certificate that is its own CA (so a client trusts it by adding just this PEM, e.g.
// NODE_EXTRA_CA_CERTS), valid for localhost, 127.0.0.1, ::1 and the bound host.
import { isIP } from 'node:net';
import { generate } from 'selfsigned';

export interface Certificate {
  /** PEM; also the CA a client must trust */
  cert: string;
  /** PEM private key */
  key: string;
}

export async function selfSignedCertificate(host?: string): Promise<Certificate> {
  const names = new Set(['localhost', '127.0.0.1', '::1', ...(host && !['0.0.0.0', '::'].includes(host) ? [host] : [])]);
  const now = Date.now();
  const pem = await generate([{ name: 'commonName', value: 'agentmem emulator' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 60 * 60_000),
    notAfterDate: new Date(now + 30 * 24 * 60 * 60_000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [...names].map((n) => (isIP(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n })) },
    ],
  });
  return { cert: pem.cert, key: pem.private };
}
