#!/usr/bin/env node
// The `advprop` command. Subcommands live in their own files; this one only routes.
import { parseArgs } from 'node:util';
import { runInfo } from './info.js';

const USAGE = `usage: advprop <command> [options]

commands:
  info [--json] [--no-selftest]   build, devices and a short self-test of every available device
  help                            this text`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'info': {
      const { values } = parseArgs({
        args: rest,
        options: { json: { type: 'boolean', default: false }, 'no-selftest': { type: 'boolean', default: false } },
        strict: true,
      });
      return runInfo({ json: values.json ?? false, selftest: !values['no-selftest'] });
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 1 : 0;
    default:
      console.error(`advprop: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    console.error(`advprop: ${e.code ? e.code + ': ' : ''}${e.message ?? String(err)}`);
    process.exitCode = 1;
  },
);
