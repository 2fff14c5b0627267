// The test MCP server over stdio (run as `node --import tsx test/mcp-stdio-server.ts`):
// the tools of mcp-kit.ts; `die` exits the process mid-call. MCP_TEST_GREETING, from
// the environment the agent's config gives, is what `greet` answers.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { registerTestTools } from './mcp-kit.ts';

const server = new McpServer({ name: 'test-tools-stdio', version: '1.0.0' });
registerTestTools(server, () => process.exit(3));
server.registerTool('greet', { description: 'Says the greeting from its environment.' }, async () => ({
  content: [{ type: 'text', text: process.env.MCP_TEST_GREETING ?? '(no greeting)' }],
}));
await server.connect(new StdioServerTransport());
