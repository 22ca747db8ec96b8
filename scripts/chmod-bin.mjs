// Marks the package's bin targets executable after tsc writes them (tsc emits 0644). npm sets the
// mode itself when it links a dependency's bin, but `npx advprop` inside this checkout runs the
// file in place, and without +x it fails with "Permission denied".
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const target of Object.values(bin ?? {})) {
  const file = join(root, target);
  if (existsSync(file)) chmodSync(file, 0o755);
}
