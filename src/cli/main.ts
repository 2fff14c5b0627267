// `agentmem <command>`: one subcommand per file in this folder.
import { Command } from 'commander';
import { emulateCommand } from './emulate.ts';
import { serveCommand } from './serve.ts';

const program = new Command('agentmem')
  .description('LLM agents with long-term memory, streamed token by token.')
  .showHelpAfterError()
  // a subcommand's options are its own (`bench recall --database` is not `bench --database`)
  .enablePositionalOptions();

program.addCommand(serveCommand(), { isDefault: true });
program.addCommand(emulateCommand());
program.addCommand((await import('./bench.ts')).benchCommand());
program.addCommand((await import('./chat.ts')).chatCommand());
program.addCommand((await import('./agents.ts')).agentsCommand());
program.addCommand((await import('./memories.ts')).memoriesCommand());
{
  const data = await import('./org-data.ts');
  for (const cmd of [data.exportCommand(), data.importCommand(), data.backupCommand(), data.restoreCommand()]) program.addCommand(cmd);
}

await program.parseAsync(process.argv);
