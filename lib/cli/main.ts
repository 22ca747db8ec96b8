#!/usr/bin/env node
// The `advprop` command. Subcommands live in their own files; this one only routes.
import { parseArgs } from 'node:util';
import { runInfo } from './info.js';
import { isUsageError } from './args.js';
import { runTrain } from './train.js';
import { runAttack, runEval, runExport } from './evaluate.js';
import { runPredict } from './predict.js';
import { abortJob, world } from '../distributed/world.js';

const USAGE = `usage: advprop <command> [options]

commands:
  train [options]                 train an EfficientNet with AdvProp or a baseline (--help for options)
  eval --run DIR                  clean, PGD and corruption accuracy of a run's model
  attack --run DIR                accuracy under PGD at one radius
  export --run DIR --out FILE     the run's model as safetensors (--ema, --strip-aux, --layout oihw)
                                  or ONNX (--format onnx, --fold-bn, --layout nchw, --dtype f16, --resolution)
  predict --model RUN_OR_FILE --images PATH...
                                  top-5 classes of images from a run or a timm-named weights file
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
    case 'train': return runTrain(rest);
    case 'eval': return runEval(rest);
    case 'attack': return runAttack(rest);
    case 'export': return runExport(rest);
    case 'predict': return runPredict(rest);
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
    const e = err as { code?: string; message?: string; stack?: string };
    const usage = isUsageError(err);
    const code = e.code && !e.code.startsWith('ERR_PARSE_ARGS') ? e.code + ': ' : '';
    console.error(`advprop: ${code}${(e.message ?? String(err)).split('\n')[0]}`);
    if (!usage && process.env.ADVPROP_DEBUG) console.error(e.stack);
    process.exitCode = usage ? 2 : 1;
    // The other ranks of a job would wait for this one in their next collective: end them all.
    if (world().size > 1) {
      console.error(`advprop: rank ${world().rank} of ${world().size} failed; aborting the job`);
      abortJob(1);
    }
  },
);
