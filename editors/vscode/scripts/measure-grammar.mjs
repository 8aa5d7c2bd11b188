// How many lines of a workflow's code blocks each grammar set scopes as Lua / Python, e.g.
//   node scripts/measure-grammar.mjs ../../examples/parallel_pipeline.tea.yaml
import { readFile } from 'node:fs/promises';
import { GRAMMAR_SETS, linesScoped, tokenize, yamlGrammar } from '../test/lib/textmate.mjs';

for (const file of process.argv.slice(2)) {
  const text = await readFile(file, 'utf8');
  for (const [name, set] of Object.entries(GRAMMAR_SETS)) {
    const lines = tokenize(await yamlGrammar(set), text);
    const invalid = lines.filter((t) => t.some((x) => x.scopes.some((s) => s.startsWith('invalid'))));
    console.log(
      `${file} with ${name}: ${linesScoped(lines, '.lua').length} Lua lines, ` +
        `${linesScoped(lines, '.python').length} Python lines, ${invalid.length} lines with invalid tokens`,
    );
  }
}
