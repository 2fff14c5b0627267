// `agentmem <command>`: one subcommand per file in this folder.
import { Command } from 'commander';
import { serveCommand } from './serve.ts';

const program = new Command('agentmem')
  .description('LLM agents with long-term memory, streamed token by token.')
  .showHelpAfterError();

program.addCommand(serveCommand(), { isDefault: true });

await program.parseAsync(process.argv);
