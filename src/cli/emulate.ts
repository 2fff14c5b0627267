import { Command, InvalidArgumentError } from 'commander';
import { startEmulator } from '../llm/emulator/server.ts';
import { isProfileName, PROFILE_NAMES, type ProfileName } from '../llm/emulator/profiles.ts';

const profileArg = (v: string): ProfileName => {
  if (!isProfileName(v)) throw new InvalidArgumentError(`one of ${PROFILE_NAMES.join(', ')}`);
  return v;
};

const collect = (v: string, acc: string[] = []) => [...acc, v];

export function emulateCommand(): Command {
  return new Command('emulate')
    .description('Run the upstream emulator: OpenAI and Zhipu GLM streaming wire formats with latency profiles and faults')
    .option('-p, --port <port>', 'port to listen on', '8090')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--profile <profile>', `latency profile: ${PROFILE_NAMES.join(' | ')}`, profileArg, 'glm-4-flash' as ProfileName)
    .option('--zhipu-key <id.secret>', 'accepted Zhipu key (verbatim or as a signed JWT); repeatable; default: any bearer', collect)
    .option('--openai-key <key>', 'accepted OpenAI key; repeatable; default: any bearer', collect)
    .action(async (opts: { port: string; host: string; profile: ProfileName; zhipuKey?: string[]; openaiKey?: string[] }) => {
      let emu;
      try {
        emu = await startEmulator({ port: Number(opts.port), host: opts.host, profile: opts.profile, zhipuKeys: opts.zhipuKey, openaiKeys: opts.openaiKey });
      } catch (err) {
        console.error(`agentmem emulate: ${(err as Error).message}`);
        process.exit(1);
      }
      console.log(`emulator listening on ${emu.url} (profile ${opts.profile})`);
      console.log(`  OpenAI: ${emu.url}/v1/chat/completions   Zhipu: ${emu.url}/api/paas/v4/chat/completions`);
      console.log(`  options as path segments, e.g. ${emu.url}/~fault=drip/~text=hello/v1`);
      const stop = async () => {
        await emu.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
