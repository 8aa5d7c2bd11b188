// Bundles Graphviz (WebAssembly, @viz-js/viz) into the extension: copies its self-contained
// browser build (the wasm is inlined) to out/viz/, where the graph webview loads it from.
// No network at run time; `vsce package` includes out/.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'node_modules', '@viz-js', 'viz', 'dist');
const target = path.join(root, 'out', 'viz');
const files = ['viz-global.js'];
for (const f of files) {
  if (!existsSync(path.join(dist, f))) {
    console.error(`copy-viz: ${path.join(dist, f)} is missing: run npm ci`);
    process.exit(1);
  }
}
mkdirSync(target, { recursive: true });
for (const f of files) copyFileSync(path.join(dist, f), path.join(target, f));
copyFileSync(path.join(dist, '..', 'package.json'), path.join(target, 'package.json'));
console.log(`copy-viz: ${files.join(', ')} -> out/viz/`);
