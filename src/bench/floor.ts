// The floor: the least a server in front of the model can cost. A plain node:http proxy
// that keeps its upstream connection alive and only re-encodes the SSE — the OpenAI
// chunks in, agentmem's native content frames out — with no auth, no memory, nothing
// stored. Measured in the same run as direct and through, it says how much of agentmem's
// overhead any Node hop on this machine would pay (client, emulator and server share the cores).
import { createServer, request, Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as requestTls, Agent as TlsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createParser } from 'eventsource-parser';

export interface Floor {
  url: string;
  close(): Promise<void>;
}

/** A floor proxy to `upstream` (an emulator's base URL, e.g. http://127.0.0.1:9000/v1). */
export async function startFloor(upstream: () => string): Promise<Floor> {
  // `bench --tls`: the emulator speaks HTTPS (this process trusts it through NODE_EXTRA_CA_CERTS)
  const plain = { request, agent: new Agent({ keepAlive: true, maxSockets: Infinity }) };
  const tls = { request: requestTls, agent: new TlsAgent({ keepAlive: true, maxSockets: Infinity }) };
  const server: Server = createServer((req, res) => {
    const base = upstream();
    void proxy(req, res, base, base.startsWith('https:') ? tls : plain);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        plain.agent.destroy();
        tls.agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Client {
  request: typeof request;
  agent: Agent;
}

async function proxy(req: IncomingMessage, res: ServerResponse, base: string, { request, agent }: Client): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const target = new URL(`${base}/chat/completions`);
  const up = request(
    target,
    { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: req.headers.authorization ?? '' } },
    (upRes) => {
      if (upRes.statusCode !== 200) {
        res
          .writeHead(502, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { code: 'upstream_error', message: `HTTP ${upRes.statusCode}` } }));
        upRes.resume();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let seq = 0;
      const frame = (data: object) => res.write(`id: ${++seq}\ndata: ${JSON.stringify(data)}\n\n`);
      const parser = createParser({
        onEvent(e) {
          if (e.data === '[DONE]') return void frame({ chunk_type: 'done', finish_reason: 'stop' });
          const content = JSON.parse(e.data)?.choices?.[0]?.delta?.content;
          if (typeof content === 'string' && content) frame({ chunk_type: 'content', content, step_id: 0 });
        },
      });
      upRes.setEncoding('utf8');
      upRes.on('data', (s: string) => parser.feed(s));
      upRes.on('end', () => res.end());
    },
  );
  up.on('error', () => res.destroy());
  res.on('close', () => {
    if (!res.writableFinished) up.destroy();
  });
  up.end(Buffer.concat(chunks));
}
