// `agentmem agents list|create|delete`: the organization's agents over the REST API.
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { ApiError, createClient, guarded, withConnection } from './client.ts';

interface Conn {
  url: string;
  key?: string;
  json?: boolean;
}

export function agentsCommand(): Command {
  const agents = new Command('agents').description("List, create and delete your organization's agents");

  agents.addCommand(
    withConnection(
      new Command('list')
        .description('List agents, newest first')
        .option('--limit <n>', 'at most this many', positive, 50)
        .option('--json', 'print the JSON answer'),
    ).action(
      guarded(async (opts: Conn & { limit: number }) => {
        const res = await createClient(opts).json<{ data: AgentView[]; has_more: boolean }>('GET', `/api/v1/agents?limit=${opts.limit}`);
        if (opts.json) return void process.stdout.write(JSON.stringify(res, null, 2) + '\n');
        if (!res.data.length) return void process.stdout.write('no agents yet (agentmem agents create --name NAME)\n');
        const rows = res.data.map((a) => [
          a.id,
          a.name,
          `${a.llm?.provider ?? '?'}/${a.llm?.model ?? '?'}`,
          String(a.created_at).slice(0, 19).replace('T', ' '),
        ]);
        process.stdout.write(table([['ID', 'NAME', 'MODEL', 'CREATED'], ...rows]));
        if (res.has_more) process.stdout.write(`… more: --limit ${opts.limit * 2}\n`);
      }),
    ),
  );

  agents.addCommand(
    withConnection(
      new Command('create')
        .description('Create an agent: --config file.json (the agent config JSON), or --provider/--model; --name wins over the file')
        .option('--name <name>', 'its name (required unless the config file has one)')
        .option('--config <file>', 'agent config JSON (llm, system_prompt, memory, streaming, tools); "-" reads stdin')
        .option('--provider <provider>', 'llm.provider: simulated | openai-compatible | zhipu | anthropic')
        .option('--model <model>', 'llm.model')
        .option('--base-url <url>', 'llm.base_url')
        .option('--system-prompt <text>', 'system_prompt')
        .option('--json', 'print the JSON answer'),
    ).action(
      guarded(async (opts: Conn & { name?: string; config?: string; provider?: string; model?: string; baseUrl?: string; systemPrompt?: string }) => {
        const body: Record<string, unknown> = opts.config ? readConfig(opts.config) : {};
        if (opts.name) body.name = opts.name;
        if (!body.name) throw new ApiError('bad_request', 'give the agent a --name (or a "name" in --config)');
        if (opts.provider || opts.model || opts.baseUrl) {
          body.llm = {
            ...(typeof body.llm === 'object' ? body.llm : {}),
            ...(opts.provider && { provider: opts.provider }),
            ...(opts.model && { model: opts.model }),
            ...(opts.baseUrl && { base_url: opts.baseUrl }),
          };
        }
        if (opts.systemPrompt) body.system_prompt = opts.systemPrompt;
        const agent = await createClient(opts).json<AgentView>('POST', '/api/v1/agents', body);
        if (opts.json) return void process.stdout.write(JSON.stringify(agent, null, 2) + '\n');
        process.stdout.write(`created ${agent.id} ${agent.name} (${agent.llm?.provider}/${agent.llm?.model})\n`);
      }),
    ),
  );

  agents.addCommand(
    withConnection(new Command('delete').description('Delete an agent (its sessions and memories go with it)').argument('<agent-id>')).action(
      guarded(async (id: string, opts: Conn) => {
        await createClient(opts).json('DELETE', `/api/v1/agents/${encodeURIComponent(id)}`);
        process.stdout.write(`deleted ${id}\n`);
      }),
    ),
  );
  return agents;
}

interface AgentView {
  id: string;
  name: string;
  llm?: { provider?: string; model?: string };
  created_at: string;
}

function readConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new ApiError('bad_config', `cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('expected a JSON object');
    return parsed;
  } catch (err) {
    throw new ApiError('bad_config', `${file} is not an agent config: ${(err as Error).message}`);
  }
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function positive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
  return n;
}
