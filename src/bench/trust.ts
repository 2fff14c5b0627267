// `bench --tls`: agentmem and the bench client run in this process and must trust the
// emulator's self-signed certificate the usual Node way, NODE_EXTRA_CA_CERTS, which Node
// reads only at start. So the bench makes the certificate, writes it to a temp dir, and
// runs itself again with NODE_EXTRA_CA_CERTS pointing at it; the second run finds the
// certificate and key through AGENTMEM_BENCH_TLS_DIR and hands them to the emulator.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCertificate, type Certificate } from '../emulator/tls.ts';

const DIR_ENV = 'AGENTMEM_BENCH_TLS_DIR';

/** The certificate this run was started to trust, or undefined: then call `rerunTrusting`. */
export function trustedCertificate(): Certificate | undefined {
  const dir = process.env[DIR_ENV];
  if (!dir || process.env.NODE_EXTRA_CA_CERTS !== join(dir, 'cert.pem')) return undefined;
  return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
}

/** Runs this same command again, trusting a new certificate; resolves with its exit code. */
export async function rerunTrusting(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'agentmem-bench-tls-'));
  try {
    const { cert, key } = await selfSignedCertificate();
    writeFileSync(join(dir, 'cert.pem'), cert);
    writeFileSync(join(dir, 'key.pem'), key, { mode: 0o600 });
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'), [DIR_ENV]: dir },
    });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    return await new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
