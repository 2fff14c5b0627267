import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { startEmulator } from '../emulator/server.ts';
import { isProfileName, PROFILE_NAMES, type ProfileName } from '../emulator/profiles.ts';

const profileArg = (v: string): ProfileName => {
  if (!isProfileName(v)) throw new InvalidArgumentError(`one of ${PROFILE_NAMES.join(', ')}`);
  return v;
};

const collect = (v: string, acc: string[] = []) => [...acc, v];

const milliseconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 60_000) throw new InvalidArgumentError('milliseconds, 0..60000');
  return n;
};

export function emulateCommand(): Command {
  return new Command('emulate')
    .description('Run the upstream emulator: OpenAI, Zhipu GLM and Anthropic Messages streaming wire formats with latency profiles and faults')
    .option('-p, --port <port>', 'port to listen on', '8090')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--profile <profile>', `latency profile: ${PROFILE_NAMES.join(' | ')}`, profileArg, 'glm-4-flash' as ProfileName)
    .option('--zhipu-key <id.secret>', 'accepted Zhipu key (verbatim or as a signed JWT); repeatable; default: any bearer', collect)
    .option('--openai-key <key>', 'accepted OpenAI key; repeatable; default: any bearer', collect)
    .option('--anthropic-key <key>', 'accepted Anthropic key (x-api-key); repeatable; default: any', collect)
    .option('--tls', 'serve HTTPS with a self-signed certificate made at start')
    .option('--cert-out <file>', 'with --tls: where to write the certificate (PEM) for clients to trust (default: a file in the temp dir)')
    .option('--rtt-ms <ms>', 'network round-trip time, paid per round trip, the TCP and TLS handshakes included', milliseconds, 0)
    .action(
      async (opts: {
        port: string;
        host: string;
        profile: ProfileName;
        zhipuKey?: string[];
        openaiKey?: string[];
        anthropicKey?: string[];
        tls?: boolean;
        certOut?: string;
        rttMs: number;
      }) => {
        let emu;
        try {
          emu = await startEmulator({
            port: Number(opts.port),
            host: opts.host,
            profile: opts.profile,
            zhipuKeys: opts.zhipuKey,
            openaiKeys: opts.openaiKey,
            anthropicKeys: opts.anthropicKey,
            tls: opts.tls,
            rttMs: opts.rttMs,
          });
        } catch (err) {
          console.error(`agentmem emulate: ${(err as Error).message}`);
          process.exit(1);
        }
        console.log(`emulator listening on ${emu.url} (profile ${opts.profile}${opts.rttMs ? `, round trip ${opts.rttMs} ms` : ''})`);
        if (emu.ca) {
          const file = resolve(opts.certOut ?? join(tmpdir(), `agentmem-emulator-${emu.port}.pem`));
          writeFileSync(file, emu.ca);
          console.log(`  certificate: ${file}   trust it with NODE_EXTRA_CA_CERTS=${file}`);
        }
        console.log(`  OpenAI: ${emu.url}/v1/chat/completions   Zhipu: ${emu.url}/api/paas/v4/chat/completions   Anthropic: ${emu.url}/v1/messages`);
        console.log(`  options as path segments, e.g. ${emu.url}/~fault=drip/~text=hello/v1`);
        console.log(`  connections accepted and requests seen: ${emu.url}/_emulator/stats`);
        const stop = () => {
          emu.close().then(
            () => process.exit(0),
            (err: unknown) => {
              console.error(`agentmem emulate: ${(err as Error).message}`);
              process.exit(1);
            },
          );
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      },
    );
}
