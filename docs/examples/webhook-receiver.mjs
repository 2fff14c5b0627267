// A webhook receiver for agentmem: verifies each delivery's Standard Webhooks signature,
// ignores a webhook-id it has already handled (deliveries are at-least-once), prints the
// event and answers 204. Run it with the secret the endpoint's creation returned:
//
//   npm install standardwebhooks
//   WEBHOOK_SECRET=whsec_… PORT=4000 node webhook-receiver.mjs
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

const webhook = new Webhook(process.env.WEBHOOK_SECRET);
// The ids already handled, the oldest forgotten first (a retry comes within hours, not weeks).
const seen = new Set();
const SEEN_MAX = 100_000;

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    let event;
    try {
      // Checks the signature over "id.timestamp.body" and that the timestamp is recent.
      event = webhook.verify(body, req.headers);
    } catch (err) {
      res.writeHead(401).end(`bad signature: ${err.message}`);
      return;
    }
    const id = req.headers['webhook-id'];
    if (!seen.has(id)) {
      seen.add(id);
      if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
      console.log(JSON.stringify({ id, type: event.type, data: event.data }));
    }
    res.writeHead(204).end();
  });
});

server.listen(Number(process.env.PORT ?? 4000), '127.0.0.1', () => console.error(`listening on http://127.0.0.1:${server.address().port}`));
