// Copies the project's one workflow schema into the extension (schemas/ is git-ignored here, so
// the schema is committed once, at the repository root). `--optional`: warn instead of failing
// when the source is missing (plain compiles); packaging requires it.
// TEA_SCHEMA_SOURCE overrides the source path.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = process.env.TEA_SCHEMA_SOURCE
  ? path.resolve(process.env.TEA_SCHEMA_SOURCE)
  : path.resolve(root, '..', '..', 'schemas', 'workflow.schema.json');
const target = path.join(root, 'schemas', 'workflow.schema.json');
const optional = process.argv.includes('--optional');

if (!existsSync(source)) {
  const msg = `copy-schema: ${source} does not exist`;
  if (optional) {
    console.warn(`${msg}; yamlValidation will have no schema until it does`);
    process.exit(0);
  }
  console.error(msg);
  process.exit(1);
}
try {
  JSON.parse(readFileSync(source, 'utf8'));
} catch (err) {
  console.error(`copy-schema: ${source} is not valid JSON: ${err.message}`);
  process.exit(1);
}
mkdirSync(path.dirname(target), { recursive: true });
copyFileSync(source, target);
console.log(`copy-schema: ${path.relative(root, source)} -> ${path.relative(root, target)}`);
