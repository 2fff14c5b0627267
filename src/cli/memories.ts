// `agentmem memories search <query>`: hybrid memory search over the REST API, best first.
import { Command } from 'commander';
import { positive } from './agents.ts';
import { createClient, guarded, withConnection } from './client.ts';

export function memoriesCommand(): Command {
  const memories = new Command('memories').description("Search your organization's memories");
  memories.addCommand(
    withConnection(
      new Command('search')
        .description('Hybrid (vector + full-text) search, best first')
        .argument('<query>', 'what to look for')
        .option('--agent <id>', "this agent's memories (with its embedder)")
        .option('--user <id>', "this user's memories")
        .option('--top-k <n>', 'at most this many results', positive, 10)
        .option('--json', 'print the JSON answer'),
    ).action(
      guarded(async (query: string, opts: { url: string; key?: string; agent?: string; user?: string; topK: number; json?: boolean }) => {
        const body = { query, top_k: opts.topK, ...(opts.agent && { agent_id: opts.agent }), ...(opts.user && { user_id: opts.user }) };
        const res = await createClient(opts).json<{ results: Array<{ id: string; content: string; score: number }> }>('POST', '/api/v1/memories/search', body);
        if (opts.json) return void process.stdout.write(JSON.stringify(res, null, 2) + '\n');
        if (!res.results.length) return void process.stdout.write('no memories found\n');
        for (const r of res.results) process.stdout.write(`${r.score.toFixed(3)}  ${r.content.replace(/\s+/g, ' ')}  (${r.id})\n`);
      }),
    ),
  );
  return memories;
}
