// Starts the real CLI (`node bin/agentmem.js …`) as a child process and waits for the URL
// it prints once listening: the crash, restart and shutdown tests and the CPU script.
import { spawn, type ChildProcess } from 'node:child_process';

export interface SpawnCliOptions {
  /** the child's whole environment (undefined values are left out) */
  env: NodeJS.ProcessEnv;
  /** the line that carries the URL, its first group */
  listening?: RegExp;
  /** node flags before the script (--cpu-prof, …) */
  nodeArgs?: string[];
  /** another entry point than bin/agentmem.js */
  bin?: string;
  /** where the child's stderr goes: kept with stdout for the error message, or this process's */
  stderr?: 'pipe' | 'inherit';
}

const BIN = new URL('../../bin/agentmem.js', import.meta.url).pathname;

export async function spawnCli(args: string[], opts: SpawnCliOptions): Promise<{ child: ChildProcess; url: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
  const listening = opts.listening ?? /listening on (https?:\/\/\S+)/;
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.bin ?? BIN, ...args], { env, stdio: ['ignore', 'pipe', opts.stderr ?? 'pipe'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = listening.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr?.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`agentmem ${args[0]} exited (${code}): ${out}`)));
  });
  return { child, url };
}
